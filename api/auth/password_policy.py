"""The password policy: at least 12 characters with upper and lower case, a digit and a
special character (the platform's rule), and not guessable.

"Not guessable" is zxcvbn's estimate: its dictionaries hold the passwords most common in
public breach corpora, names, words and keyboard patterns, with l33t substitutions, dates
and repeats, so "Password123!" passes the character rules and is still refused. Long
passphrases are welcome (up to 256 characters, never truncated: argon2 hashes them
whole); the limit only bounds hashing work.
"""

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 256
# zxcvbn 4: at least 10^10 guesses. 3 (10^8) still lets "Summer2026!!" through, the
# season-and-year pattern every password sprayer tries first.
MIN_SCORE = 4
# zxcvbn's matching grows quadratically with length; beyond this a password's strength
# comes from its length, so only the start is analysed (the whole is still hashed).
ANALYSED_PREFIX = 72  # zxcvbn refuses longer input


def problems(password: str, *, user_inputs: tuple[str, ...] = ()) -> list[str]:
    """Everything wrong with `password` (empty: it is acceptable)."""
    found = []
    if len(password) < MIN_LENGTH:
        found.append(f"use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        found.append(f"use at most {MAX_LENGTH} characters")
    if not any(c.islower() for c in password):
        found.append("add a lower-case letter")
    if not any(c.isupper() for c in password):
        found.append("add an upper-case letter")
    if not any(c.isdigit() for c in password):
        found.append("add a digit")
    if all(c.isalnum() for c in password):
        found.append("add a special character (for example ! # % + - = ? @ _)")
    lowered = password.lower()
    personal = sorted({w for w in _words(user_inputs) if len(w) >= 4 and w in lowered})
    if personal:
        found.append("do not use your own name, email or the product's name in it")
    if not found:
        result = zxcvbn(password[:ANALYSED_PREFIX], user_inputs=list(_words(user_inputs)))
        if result["score"] < MIN_SCORE:
            advice = result["feedback"].get("warning") or "it is too easy to guess"
            found.append(
                f"choose another password: {advice.rstrip('.').lower()} "
                "(common, breached or personal passwords are refused; "
                "a few unrelated words make a strong one)"
            )
    return found


def require_strong(password: str, *, user_inputs: tuple[str, ...] = ()) -> None:
    """422 naming every problem, in the /auth error shape."""
    from api.auth.errors import ApiProblem

    if found := problems(password, user_inputs=user_inputs):
        raise ApiProblem(422, "Password rejected: " + "; ".join(found) + ".", "weak_password")


def _words(inputs: tuple[str, ...]):
    """The user's own details, split (an email gives its name and domain parts)."""
    for value in inputs:
        if not value:
            continue
        yield value.lower()
        for part in value.replace("@", " ").replace(".", " ").replace("-", " ").split():
            yield part.lower()
    yield "aigw"
