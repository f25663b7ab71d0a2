"""The meaning signature of a prompt: the words a similarity score is blind to.

Sentence embeddings place "Summarise this quarter" and "Summarise last quarter" closer
together (cosine 0.93 with MiniLM) than two true paraphrases of either, so no single
similarity threshold is both safe and useful. What changes the answer in such near-misses
is a small class of words: numbers, dates, time scope ("this/last/next quarter"),
negation, tense, direction (ascending/descending, to/from), units, and names. The
signature collects exactly those, normalised; a semantic hit requires the stored and
the new prompt to have the *same* signature, on top of the similarity threshold.

The signature is hashed and the hash is part of the lookup key, so it costs nothing at
lookup time and narrows the vector search to prompts that already agree on these words.
A paraphrase that rewords one of them ("don't" for "avoid") only costs a miss, never a
wrong answer.
"""

import hashlib
import re

NUMBER_WORDS = {
    "zero": "0", "none": "0", "one": "1", "single": "1", "once": "1", "two": "2",
    "twice": "2", "double": "2", "pair": "2", "couple": "2", "three": "3", "thrice": "3",
    "triple": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "dozen": "12",
    "thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17",
    "eighteen": "18", "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40",
    "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
    "hundred": "100", "thousand": "1000", "million": "1e6", "billion": "1e9", "half": "0.5",
    "quarter": None,  # a period more often than a fraction: see TIME_UNITS
    "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
    "sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
}  # fmt: skip

MONTHS = {
    "jan": "january", "january": "january", "feb": "february", "february": "february",
    "mar": "march", "march": "march", "apr": "april", "april": "april", "may": "may",
    "jun": "june", "june": "june", "jul": "july", "july": "july", "aug": "august",
    "august": "august", "sep": "september", "sept": "september", "september": "september",
    "oct": "october", "october": "october", "nov": "november", "november": "november",
    "dec": "december", "december": "december",
}  # fmt: skip
WEEKDAYS = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "weekend", "weekday", "weekdays",
}  # fmt: skip
SEASONS = {"spring", "summer", "autumn", "fall", "winter", "christmas", "easter"}

# Words that place a question in time on their own.
TIME_WORDS = {
    "today": "today", "tonight": "today", "yesterday": "yesterday", "tomorrow": "tomorrow",
    "now": "now", "currently": "now", "presently": "now",
    "ago": "ago", "recent": "recent", "recently": "recent", "latest": "latest",
    "earliest": "earliest", "upcoming": "next", "future": "future", "historical": "past",
    "historically": "past", "ytd": "ytd", "mtd": "mtd", "qtd": "qtd",
}  # fmt: skip
# Periodic words name the same unit as their noun: "nightly" is "every night".
PERIODIC = {
    "daily": "day", "nightly": "night", "weekly": "week", "monthly": "month",
    "quarterly": "quarter", "yearly": "year", "annual": "year", "annually": "year",
    "hourly": "hour",
}  # fmt: skip
# Deictic words become part of the signature together with the time unit they scope:
# "this quarter" -> this:quarter, "the last 3 months" -> last:month. Without a time unit,
# "this" (and "following", as in "the following text") says nothing; the others still
# pick a different thing: "the current version" is not "the previous version".
DEICTIC = {
    "this": "this", "these": "this", "current": "now", "last": "last", "past": "last",
    "previous": "last", "prior": "last", "preceding": "last", "next": "next",
    "coming": "next", "following": "next", "upcoming": "next",
}  # fmt: skip
TIME_UNITS = {
    "second", "minute", "hour", "day", "night", "week", "fortnight", "month", "quarter",
    "year", "decade", "century", "sprint", "release", "season", "semester", "term",
    "fy", "fiscal", "morning", "afternoon", "evening",
}  # fmt: skip

NEGATION = {
    "not": "not", "no": "not", "never": "not", "non": "not", "all": "all", "every": "all",
    "each": "all", "entire": "all",
    "whole": "all", "recursively": "all", "recursive": "all", "cannot": "not", "cant": "not",
    "without": "without", "nothing": "not", "nobody": "not", "neither": "not",
    "nor": "not", "except": "except", "excluding": "except", "exclude": "except",
    "excludes": "except", "excluded": "except", "ignore": "except", "ignoring": "except",
    "omit": "except", "omitting": "except", "skip": "except", "skipping": "except",
    "unless": "unless", "instead": "instead", "only": "only", "avoid": "avoid",
    "avoiding": "avoid", "fail": "fail", "fails": "fail", "failed": "fail",
}  # fmt: skip
TENSE = {
    "will": "future", "shall": "future", "gonna": "future", "going": "future",
    "was": "past", "were": "past", "did": "past", "had": "past", "been": "perfect",
}  # fmt: skip

# Words whose opposite gives the opposite answer; each maps to a class so that inflections
# agree ("increase", "increased", "increasing" are one word here).
DIRECTION = {
    "increase": "up", "increases": "up", "increased": "up", "increasing": "up",
    "grow": "up", "growth": "up", "rise": "up", "raise": "up", "higher": "up",
    "highest": "max", "maximum": "max", "max": "max", "largest": "max", "biggest": "max",
    "most": "max", "top": "max", "best": "max", "longest": "max", "oldest": "max",
    "decrease": "down", "decreases": "down", "decreased": "down", "decreasing": "down",
    "reduce": "down", "shrink": "down", "decline": "down", "fall": "down",
    "lower": "down", "lowest": "min", "minimum": "min", "min": "min", "smallest": "min",
    "least": "min", "bottom": "min", "worst": "min", "shortest": "min", "newest": "min",
    "more": "more", "greater": "more", "larger": "more", "bigger": "more", "longer": "more",
    "above": "more", "exceed": "more", "exceeds": "more", "after": "after",
    "less": "less", "fewer": "less", "smaller": "less", "shorter": "less", "below": "less",
    "before": "before", "tallest": "max", "ascending": "asc", "asc": "asc",
    "descending": "desc", "desc": "desc", "reverse": "reverse", "reversed": "reverse",
    "last": "last", "final": "last", "start": "start", "begin": "start", "end": "end",
    "stop": "stop", "buy": "buy", "sell": "sell", "import": "import", "export": "export",
    "encrypt": "encrypt", "decrypt": "decrypt", "encode": "encode", "decode": "decode",
    "compress": "compress", "decompress": "decompress", "upload": "upload",
    "download": "download", "push": "push", "pull": "pull", "add": "add",
    "remove": "remove", "delete": "remove", "drop": "remove",
    "enable": "enable", "disable": "disable", "open": "open", "close": "close",
    "lock": "lock", "unlock": "unlock", "allow": "allow", "deny": "deny", "block": "deny",
    "accept": "accept", "reject": "reject", "approve": "accept", "win": "win", "lose": "lose",
    "profit": "profit", "loss": "loss", "gain": "profit", "input": "input", "output": "output",
    "inbound": "in", "outbound": "out", "from": "from", "into": "to", "to": "to",
    # comparing, however phrased
    "between": "compare", "vs": "compare", "versus": "compare", "compare": "compare",
    "difference": "compare", "differences": "compare", "different": "compare",
    "differ": "compare", "comparison": "compare",
    # particles that reverse a verb: zoom in/out, round up/down, log in/off
    "up": "up", "down": "down", "out": "out", "off": "off",
    "include": "include", "includes": "include", "including": "include",
    "contain": "include", "contains": "include", "containing": "include",
    "left": "left", "right": "right", "north": "north", "south": "south", "east": "east",
    "west": "west", "positive": "positive", "negative": "negative", "true": "true",
    "false": "false", "yes": "yes", "pros": "pros", "cons": "cons", "advantages": "pros",
    "disadvantages": "cons", "benefits": "pros", "drawbacks": "cons", "risks": "cons",
    "synchronous": "sync", "sync": "sync", "asynchronous": "async", "async": "async",
    "formal": "formal", "informal": "informal", "casual": "informal", "short": "short",
    "long": "long", "simple": "simple", "detailed": "detailed", "brief": "short",
}  # fmt: skip
# "to"/"from" only matter where something is converted or moved ("English to French",
# "a timestamp to a date"); there, the words on each side of them are part of the
# signature.
ORDER_WORDS = {"to", "from", "into"}
CONVERSION_VERBS = {
    "convert", "converting", "conversion", "translate", "translating", "translation",
    "transform", "migrate", "migrating", "migration", "move", "moving", "map", "mapping",
    "cast", "port", "transfer", "copy", "sync", "exchange", "compile", "upgrade",
    "downgrade", "redirect", "forward", "import", "export",
}  # fmt: skip
FUNCTION_WORDS = {
    "a", "an", "the", "my", "our", "your", "his", "her", "its", "their", "this", "that",
    "these", "those", "some", "of", "all", "each", "every", "any", "me", "us", "it", "them",
}  # fmt: skip

UNITS = {
    "celsius": "celsius", "c": None, "fahrenheit": "fahrenheit", "kelvin": "kelvin",
    "km": "km", "kilometers": "km", "kilometres": "km", "kilometer": "km", "kilometre": "km",
    "mile": "mile", "miles": "mile", "meter": "m", "meters": "m", "metre": "m", "metres": "m",
    "feet": "ft", "foot": "ft", "ft": "ft", "inch": "in", "inches": "in", "cm": "cm",
    "mm": "mm", "kg": "kg", "kilograms": "kg", "pounds": "lb", "lbs": "lb", "lb": "lb",
    "grams": "g", "ounces": "oz", "liters": "l", "litres": "l", "gallons": "gal",
    "usd": "usd", "dollar": "usd", "dollars": "usd", "$": "usd", "eur": "eur", "euro": "eur",
    "euros": "eur", "€": "eur", "gbp": "gbp", "pound": "gbp", "sterling": "gbp", "£": "gbp",
    "yen": "jpy", "jpy": "jpy", "chf": "chf", "inr": "inr", "rupees": "inr", "%": "percent",
    "percent": "percent", "percentage": "percent", "seconds": "s", "secs": "s", "sec": "s",
    "ms": "ms", "milliseconds": "ms", "millisecond": "ms", "microseconds": "us",
    "minutes": "min", "mins": "min", "hours": "h", "hrs": "h", "days": "d", "weeks": "w",
    "months": "mo", "years": "y", "bytes": "b", "kb": "kb", "mb": "mb", "gb": "gb",
    "tb": "tb", "kib": "kb", "mib": "mb", "gib": "gb", "tib": "tb", "utc": "utc",
    "kilobyte": "kb", "kilobytes": "kb", "megabyte": "mb", "megabytes": "mb",
    "gigabyte": "gb", "gigabytes": "gb", "terabyte": "tb", "terabytes": "tb", "byte": "b",
    "bit": "bit", "bits": "bit", "kilobit": "kbit", "kilobits": "kbit", "megabit": "mbit",
    "megabits": "mbit", "gigabit": "gbit", "gigabits": "gbit", "kbps": "kbps", "mbps": "mbps",
    "gbps": "gbps", "points": "points", "bps": "bps", "pp": "points", "basis": "basis",
    "pst": "pst", "est": "est", "cet": "cet", "gmt": "utc",
}  # fmt: skip

# Names people type in lower case: languages, tools, products, places. Capitalised words
# anywhere but at the start of a sentence count as names too (see _is_name).
KNOWN_NAMES = {
    "python", "java", "javascript", "typescript", "js", "ts", "go", "golang", "rust", "ruby",
    "php", "perl", "kotlin", "swift", "scala", "c#", "csharp", "c++", "cpp", "haskell",
    "elixir", "erlang", "clojure", "lua", "r", "matlab", "julia", "dart", "bash", "shell",
    "zsh", "powershell", "sql", "plsql", "tsql", "html", "css", "scss", "yaml", "json", "xml",
    "toml", "csv", "markdown", "latex", "regex", "postgres", "postgresql", "mysql", "mariadb",
    "sqlite", "oracle", "mssql", "mongodb", "mongo", "redis", "cassandra", "dynamodb",
    "elasticsearch", "kafka", "rabbitmq", "snowflake", "bigquery", "redshift", "databricks",
    "spark", "hadoop", "airflow", "dbt", "pandas", "numpy", "polars", "django", "flask",
    "fastapi", "rails", "spring", "express", "react", "vue", "angular", "svelte", "nextjs",
    "nuxt", "jquery", "node", "nodejs", "deno", "bun", "npm", "yarn", "pnpm", "pip", "poetry",
    "conda", "docker", "podman", "kubernetes", "k8s", "helm", "terraform", "pulumi",
    "ansible", "chef", "puppet", "jenkins", "github", "gitlab", "bitbucket", "git", "svn",
    "aws", "azure", "gcp", "linux", "windows", "macos", "ios", "android", "ubuntu", "debian",
    "centos", "rhel", "nginx", "apache", "tomcat", "graphql", "rest", "grpc", "soap",
    "oauth", "saml", "jwt", "ldap", "http", "https", "tcp", "udp", "ssh", "tls", "ssl", "dns",
    "excel", "word", "powerpoint", "outlook", "teams", "slack", "jira", "confluence",
    "salesforce", "sap", "workday", "servicenow", "tableau", "powerbi", "looker",
    "english", "french", "german", "spanish", "italian", "portuguese", "dutch", "polish",
    "russian", "chinese", "mandarin", "japanese", "korean", "arabic", "hindi", "turkish",
    "swedish", "norwegian", "danish", "finnish", "greek", "hebrew", "ukrainian", "czech",
    "pytest", "unittest", "jest", "mocha", "junit", "selenium", "playwright", "cypress",
    "webpack", "vite", "babel", "eslint", "prettier", "ruff", "black", "mypy", "flake8",
    "tensorflow", "pytorch", "torch", "keras", "sklearn", "scikit", "xgboost", "openai",
    "anthropic", "claude", "gpt", "gemini", "llama", "mistral", "copilot", "chatgpt",
    "vscode", "vim", "emacs", "intellij", "pycharm", "eclipse", "xcode", "figma",
    "usa", "uk", "eu", "emea", "apac", "latam", "amer",
}  # fmt: skip
NOT_NAMES = {  # capitalised for emphasis or convention, not names
    "i", "i'm", "i've", "i'd", "i'll", "ok", "okay", "please", "thanks", "hi", "hello",
    "hey", "dear", "note", "tl;dr", "faq", "etc", "ie", "eg", "vs", "api", "apis", "ai",
    "llm", "ui", "ux", "cli", "sdk", "id", "url", "pdf",
}  # fmt: skip

_TOKEN = re.compile(
    # Double-quoted text is a literal (what to translate, search for, reply to); quotes and
    # backticks around code are only emphasis, so their words are read like the rest.
    r"""("[^"\n]{1,200}"|“[^”\n]{1,200}”)"""
    r"""|([$€£]?\d+(?:[.,:/-]\d+)*(?:st|nd|rd|th|k|m|b|x|s)?)"""  # numbers, dates, versions
    r"""|([\w%#+]+(?:[.'’_/][\w%#+]+)*)""",  # words, identifiers, file names
    re.UNICODE,
)
# What starts a sentence (or a quotation, where a capital is grammar too)
_SENTENCE_END = re.compile(r"[.!?:;\n\"'“‘(]")
CURRENCY = {"$": "usd", "€": "eur", "£": "gbp"}
_QUARTER = re.compile(r"^(q[1-4]|h[12]|fy\d{2,4}|cy\d{2,4}|\d{4}q[1-4]|wk\d{1,2}|w\d{1,2})$")
_CAMEL_OR_CODE = re.compile(r"[a-z][A-Z]|[_./\\]|\(\)|^[A-Z]{2,}\d*$|\d")


def _normalise_number(token: str) -> str:
    token = token.rstrip("kmbx") if token[-1:] in "kmbx" and token[:-1].isdigit() else token
    return token.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+", token) else token


def _is_name(raw: str, at_sentence_start: bool) -> bool:
    lower = raw.lower()
    if lower in NOT_NAMES:
        return False
    if lower in KNOWN_NAMES:
        return True
    if _CAMEL_OR_CODE.search(raw):  # camelCase, snake_case, paths, v2, ACRONYMS
        return True
    return raw[:1].isupper() and not at_sentence_start


def signature(text: str) -> tuple[str, ...]:
    """The normalised meaning-bearing tokens of `text`, sorted: numbers, dates,
    time scope, negation and quantifiers, tense, direction, units, quoted literals, names,
    and — where something is converted or moved — which side of "to"/"from" each word is on
    ("a timestamp to a date" is not "a date to a timestamp")."""
    terms: list[str] = []
    names: set[str] = set()
    matches = list(_TOKEN.finditer(text))
    words = [m.group(0) for m in matches]
    lowered = [_plain(w) for w in words]
    converting = any(w in CONVERSION_VERBS for w in lowered)
    previous_end = 0
    for i, m in enumerate(matches):
        quoted, number, word = m.groups()
        # A capital after a sentence end is grammar, not a name.
        at_start = i == 0 or bool(_SENTENCE_END.search(text[previous_end : m.start()]))
        previous_end = m.end()
        if quoted:
            terms.append("quote:" + " ".join(quoted[1:-1].lower().split()))
            continue
        if number:
            if number[0] in CURRENCY:
                terms.append("unit:" + CURRENCY[number[0]])
                number = number[1:]
            terms.append("num:" + _normalise_number(number.lower()))
            continue
        lower = lowered[i]
        if lower.endswith("n't") or lower in ("cannot", "cant", "wont", "dont", "isnt"):
            terms.append("neg:not")
            stem = lower[:-3] if lower.endswith("n't") else lower
            if stem in ("wo", "will", "wont"):
                terms.append("tense:future")
            elif stem in ("did", "was", "were", "had"):
                terms.append("tense:past")
            continue
        if lower.endswith("'ll"):
            terms.append("tense:future")
            continue
        if _QUARTER.match(lower):
            terms.append("date:" + lower)
            continue
        if lower in DEICTIC:
            unit = _time_unit_after(lowered, i)
            if unit:
                terms.append(f"scope:{DEICTIC[lower]}:{unit}")
            elif DEICTIC[lower] != "this" and lower != "following":
                terms.append("deixis:" + DEICTIC[lower])
            continue
        if lower in PERIODIC:
            terms.append("unit:" + PERIODIC[lower])
            continue
        if lower in TIME_UNITS or lower.removesuffix("s") in TIME_UNITS:
            terms.append("unit:" + lower.removesuffix("s"))
            continue
        # "may" and "mar" are months only when capitalised
        if lower in MONTHS and (lower not in ("may", "mar") or word[:1].isupper()):
            terms.append("date:" + MONTHS[lower])
            continue
        if lower in WEEKDAYS or lower in SEASONS:
            terms.append("date:" + lower.removesuffix("s"))
            continue
        if lower in TIME_WORDS:
            terms.append("time:" + TIME_WORDS[lower])
            continue
        number_word = NUMBER_WORDS.get(lower) or NUMBER_WORDS.get(lower.removesuffix("s"))
        if number_word:  # "thousands" is "thousand"
            terms.append("num:" + number_word)
            continue
        if lower in NEGATION:
            terms.append("neg:" + NEGATION[lower])
            continue
        if lower in TENSE:
            if lower == "going" and not (i + 1 < len(lowered) and lowered[i + 1] == "to"):
                continue
            terms.append("tense:" + TENSE[lower])
            continue
        if lower in UNITS and UNITS[lower]:
            terms.append("unit:" + UNITS[lower])
            continue
        if lower in ORDER_WORDS:
            between_names = 0 < i < len(words) - 1 and all(
                _is_name(w, False) for w in (words[i - 1], words[i + 1])
            )
            if converting or between_names:  # "a timestamp to a date", "English to French"
                before, after = _content_word(lowered, i, -1), _content_word(lowered, i, 1)
                terms.append(
                    f"order:{before}>{after}" if lower != "from" else f"order:{after}>{before}"
                )
            continue
        if lower in DIRECTION:
            terms.append("dir:" + DIRECTION[lower])
            continue
        stem = _stem(lower)
        if stem in DIRECTION:
            terms.append("dir:" + DIRECTION[stem])
            continue
        if _is_name(word, at_start):
            names.add("name:" + lower)
    # A multiset: "before ... or after ... risks of before" is not "... risks of after".
    # Names count once ("Docker image and Docker container"), as does comparing, which
    # English says twice ("the difference between").
    compare = terms.count("dir:compare")
    terms = [t for t in terms if t != "dir:compare"] + ["dir:compare"] * min(compare, 1)
    return tuple(sorted(terms)) + tuple(sorted(names))


def _plain(word: str) -> str:
    """Lower case, one kind of apostrophe, no possessive ("Friday's" is about Friday)."""
    return word.lower().replace("’", "'").removesuffix("'s")


def _content_word(lowered: list[str], i: int, step: int) -> str:
    """The nearest word before (step -1) or after (step 1) position i that is not an
    article or a determiner; "" at the edge."""
    j = i + step
    while 0 <= j < len(lowered):
        if lowered[j] not in FUNCTION_WORDS:
            return _stem(lowered[j]).removesuffix("s")
        j += step
    return ""


def _time_unit_after(lowered: list[str], i: int) -> str | None:
    """The time unit a deictic word scopes: "this quarter", "the last 3 months",
    "next fiscal year"; None when it scopes something else ("this function")."""
    for j in range(i + 1, min(i + 4, len(lowered))):
        word = lowered[j]
        unit = word.rstrip("s") if word.rstrip("s") in TIME_UNITS else None
        if unit:
            return unit
        if _QUARTER.match(word) or word in MONTHS or word in WEEKDAYS or word in SEASONS:
            return word
        if not (word.isdigit() or word in NUMBER_WORDS or word in ("few", "couple", "of")):
            return None
    return None


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if base in DIRECTION:
                return base
            if base + "e" in DIRECTION:
                return base + "e"
    return word


def guard_hash(text: str) -> bytes:
    """SHA-256 of the signature: equal for prompts that agree on every guarded word."""
    return hashlib.sha256("\x1f".join(signature(text)).encode()).digest()
