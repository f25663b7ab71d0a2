// The portals' own script: enhancements only, every page works without it.
// Loaded from this origin (the Content-Security-Policy allows no inline script).
(function () {
  "use strict";

  // What a new password still lacks, as the user types (the server checks again, and
  // also refuses common and personal passwords, which this does not try to guess).
  var RULES = [
    [function (p) { return p.length >= 12; }, "at least 12 characters"],
    [function (p) { return /[A-Z]/.test(p); }, "an upper-case letter"],
    [function (p) { return /[a-z]/.test(p); }, "a lower-case letter"],
    [function (p) { return /[0-9]/.test(p); }, "a digit"],
    [function (p) { return /[^A-Za-z0-9]/.test(p); }, "a special character"]
  ];

  function watchPassword(input) {
    var list = document.getElementById(input.id + "-missing");
    if (!list) { return; }
    function update() {
      var missing = RULES.filter(function (r) { return !r[0](input.value); });
      list.textContent = "";
      missing.forEach(function (r) {
        var item = document.createElement("li");
        item.textContent = "Missing: " + r[1];
        list.appendChild(item);
      });
      if (input.value && !missing.length) {
        var ok = document.createElement("li");
        ok.className = "ok";
        ok.textContent = "Meets the character rules";
        list.appendChild(ok);
      }
    }
    input.addEventListener("input", update);
    update();
  }

  // An invitation link carries its token after '#', which browsers never send to a
  // server (so it stays out of every access log): copy it into the form.
  function takeInvitationToken() {
    var field = document.querySelector("[data-token-field]");
    var match = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(window.location.hash);
    if (!field || !match) { return; }
    field.querySelector("input").value = match[1];
    field.hidden = true;
    history.replaceState(null, "", window.location.pathname);
  }

  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      button.hidden = false;
      button.addEventListener("click", function () {
        if (!source || !navigator.clipboard) { return; }
        navigator.clipboard.writeText(source.value || source.textContent).then(function () {
          button.textContent = "Copied";
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-password-rules]").forEach(watchPassword);
    takeInvitationToken();
    copyButtons();
  });
})();
