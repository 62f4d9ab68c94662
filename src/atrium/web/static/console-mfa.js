/*
 * Second-factor page: answer the sign-in challenge with a security key or passkey.
 *
 * #webauthn-mfa (hidden) is shown when the browser supports WebAuthn; #use-key carries the
 * challenge (data-challenge) and where to go afterwards (data-next). The WebAuthn route sets the
 * session cookie itself, so success only needs a navigation. Errors go to #webauthn-mfa-error.
 * Needs webauthn.js loaded first.
 */
(function () {
  "use strict";

  function safePath(value) {
    return value && value.charAt(0) === "/" && value.charAt(1) !== "/" && value.indexOf("\\") < 0 ? value : "/";
  }

  function start() {
    var box = document.getElementById("webauthn-mfa");
    var button = document.getElementById("use-key");
    var error = document.getElementById("webauthn-mfa-error");
    var webauthn = window.atriumWebauthn;
    if (!box || !button || !webauthn || !webauthn.supported()) return;
    box.hidden = false;

    function fail(message) {
      button.disabled = false;
      if (!error) return;
      error.textContent = message;
      error.hidden = false;
    }

    button.addEventListener("click", function () {
      button.disabled = true;
      if (error) error.hidden = true;
      webauthn.authenticate(button.getAttribute("data-challenge"))
        .then(function () { window.location.assign(safePath(button.getAttribute("data-next"))); })
        .catch(function (problem) {
          if (problem && problem.name === "NotAllowedError") {
            fail("The browser or the key cancelled the request, or it timed out. Try again, or enter a code.");
          } else if (problem && problem.problem && problem.problem.code === "invalid-token") {
            fail("The sign-in expired. Start again with your password.");
          } else {
            fail((problem && problem.message) || "The key was not accepted.");
          }
        });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
