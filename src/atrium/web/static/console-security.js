/*
 * Console security pages (account and tenant).
 *
 * - form[data-confirm]: asks before submitting (deleting a connection, revoking a token …).
 * - button[data-copy="ID"]: copies the text of element ID (a secret shown once) to the clipboard.
 * - The account page's "Security keys and passkeys" card: lists the signed-in person's WebAuthn
 *   credentials (#webauthn-list), adds one (#webauthn-register, through atriumWebauthn.register)
 *   and removes one (its "Remove" button). Messages go to #webauthn-status.
 *
 * Needs webauthn.js loaded first for the WebAuthn card.
 */
(function () {
  "use strict";

  function headers() {
    var result = { Accept: "application/json" };
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) result["X-CSRF-Token"] = meta.content;
    return result;
  }

  function problem(response) {
    return response.json().then(
      function (data) { return new Error(data.detail || data.title || "request failed (" + response.status + ")"); },
      function () { return new Error("request failed (" + response.status + ")"); }
    ).then(function (error) { throw error; });
  }

  function day(value) {
    return value ? String(value).slice(0, 10) : "";
  }

  // -- confirmations and copy buttons --------------------------------------------------------------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.hasAttribute && form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  function copyButtons() {
    if (!navigator.clipboard) return;
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          button.textContent = "Copied";
        });
      });
    });
  }

  // -- security keys and passkeys (account page) ---------------------------------------------------

  function webauthnCard() {
    var list = document.getElementById("webauthn-list");
    if (!list) return;
    var form = document.getElementById("webauthn-register");
    var unsupported = document.getElementById("webauthn-unsupported");
    var status = document.getElementById("webauthn-status");
    var webauthn = window.atriumWebauthn;

    function say(message, isError) {
      if (!status) return;
      status.textContent = message || "";
      status.className = "small" + (isError ? " error" : "");
      status.setAttribute("role", isError ? "alert" : "status");
    }

    function explain(error) {
      if (error && error.name === "NotAllowedError") return "The browser or the key cancelled the request, or it timed out.";
      if (error && error.name === "InvalidStateError") return "This key is already registered.";
      return (error && error.message) || "Something went wrong.";
    }

    function item(credential) {
      var li = document.createElement("li");
      li.id = "webauthn-credential-" + credential.id;
      li.setAttribute("data-credential-id", credential.id);
      var name = document.createElement("strong");
      name.className = "webauthn-name";
      name.textContent = credential.name;
      li.appendChild(name);
      var kind = credential.device_type === "multi_device" ? "synced passkey" : "security key";
      var facts = " · " + kind + " · added " + day(credential.created_at) +
        " · " + (credential.last_used_at ? "last used " + day(credential.last_used_at) : "never used") + " ";
      li.appendChild(document.createTextNode(facts));
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "danger webauthn-remove";
      remove.setAttribute("data-remove", credential.id);
      remove.setAttribute("aria-label", "Remove " + credential.name);
      remove.textContent = "Remove";
      li.appendChild(remove);
      return li;
    }

    function show(credentials) {
      list.textContent = "";
      if (!credentials.length) {
        var empty = document.createElement("li");
        empty.className = "muted";
        empty.id = "webauthn-empty";
        empty.textContent = "No security keys or passkeys yet.";
        list.appendChild(empty);
        return;
      }
      credentials.forEach(function (credential) { list.appendChild(item(credential)); });
    }

    function load() {
      return fetch("/api/v1/me/webauthn/credentials", { credentials: "same-origin", headers: headers() })
        .then(function (response) { return response.ok ? response.json() : problem(response); })
        .then(show)
        .catch(function (error) { say(explain(error), true); });
    }

    list.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button[data-remove]") : null;
      if (!button) return;
      var label = button.getAttribute("aria-label") || "Remove this key";
      if (!window.confirm(label + "? It stops working at once.")) return;
      button.disabled = true;
      fetch("/api/v1/me/webauthn/credentials/" + encodeURIComponent(button.getAttribute("data-remove")), {
        method: "DELETE",
        credentials: "same-origin",
        headers: headers(),
      })
        .then(function (response) { return response.ok ? null : problem(response); })
        .then(function () { say("The key is removed."); return load(); })
        .catch(function (error) { button.disabled = false; say(explain(error), true); });
    });

    if (webauthn && webauthn.supported() && form) {
      form.hidden = false;
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var input = form.querySelector("input[name=name]");
        var submit = form.querySelector("button[type=submit]");
        var name = input ? input.value.trim() : "";
        if (submit) submit.disabled = true;
        say("Follow your browser's prompt to use the key…");
        webauthn.register(name)
          .then(function (created) {
            say((created && created.name ? created.name : "The key") + " is added.");
            form.reset();
            return load();
          })
          .catch(function (error) { say(explain(error), true); })
          .then(function () { if (submit) submit.disabled = false; });
      });
    } else if (unsupported) {
      unsupported.hidden = false;
    }
    load();
  }

  function start() {
    copyButtons();
    webauthnCard();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
