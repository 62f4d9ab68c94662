/*
 * Sign-in page: "Sign in with a passkey" (no password). #passkey-login (hidden) is shown when the
 * browser supports WebAuthn; #passkey-button runs atriumWebauthn.passkey() and then goes to its
 * data-next path (the route sets the session cookie). Errors go to #passkey-error.
 * Needs webauthn.js loaded first.
 */
(function () {
  "use strict";

  function safePath(value) {
    return value && value.charAt(0) === "/" && value.charAt(1) !== "/" && value.indexOf("\\") < 0 ? value : "/";
  }

  function start() {
    var box = document.getElementById("passkey-login");
    var button = document.getElementById("passkey-button");
    var error = document.getElementById("passkey-error");
    var webauthn = window.atriumWebauthn;
    if (!box || !button || !webauthn || !webauthn.supported()) return;
    box.hidden = false;

    button.addEventListener("click", function () {
      button.disabled = true;
      if (error) error.hidden = true;
      webauthn.passkey()
        .then(function () { window.location.assign(safePath(button.getAttribute("data-next"))); })
        .catch(function (problem) {
          button.disabled = false;
          if (!error) return;
          error.textContent = problem && problem.name === "NotAllowedError"
            ? "The browser or the passkey cancelled the request, or it timed out."
            : (problem && problem.message) || "The passkey was not accepted.";
          error.hidden = false;
        });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
