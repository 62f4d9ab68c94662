/*
 * Atrium WebAuthn helper: security keys and passkeys without a build step.
 *
 *   atriumWebauthn.register(name)        -> the new credential (signed in; adds a key or passkey)
 *   atriumWebauthn.authenticate(challenge) -> the signed-in user (answers the 202 of /api/v1/auth/login)
 *   atriumWebauthn.passkey()             -> the signed-in user (passwordless sign-in)
 *
 * Each call fetches options from the server, converts base64url <-> ArrayBuffer, asks the browser
 * (navigator.credentials), and posts the result back. Errors reject with an Error whose `problem`
 * holds the server's problem+json (when there is one).
 */
(function (global) {
  "use strict";

  function toBuffer(value) {
    var base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "===".slice((base64.length + 3) % 4);
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfHeaders() {
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) headers["X-CSRF-Token"] = meta.content;
    return headers;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: csrfHeaders(),
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      if (response.status === 204) return null;
      return response.json().then(function (data) {
        if (response.ok) return data;
        var error = new Error(data.detail || data.title || "request failed (" + response.status + ")");
        error.problem = data;
        throw error;
      });
    });
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: toBuffer(c.id) });
    });
  }

  function creationOptions(options) {
    return Object.assign({}, options, {
      challenge: toBuffer(options.challenge),
      user: Object.assign({}, options.user, { id: toBuffer(options.user.id) }),
      excludeCredentials: descriptors(options.excludeCredentials),
    });
  }

  function requestOptions(options) {
    return Object.assign({}, options, {
      challenge: toBuffer(options.challenge),
      allowCredentials: descriptors(options.allowCredentials),
    });
  }

  function registrationJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: {
        clientDataJSON: toBase64url(response.clientDataJSON),
        attestationObject: toBase64url(response.attestationObject),
        transports: response.getTransports ? response.getTransports() : [],
      },
    };
  }

  function assertionJSON(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: {
        clientDataJSON: toBase64url(response.clientDataJSON),
        authenticatorData: toBase64url(response.authenticatorData),
        signature: toBase64url(response.signature),
        userHandle: response.userHandle ? toBase64url(response.userHandle) : undefined,
      },
    };
  }

  function supported() {
    return !!(global.PublicKeyCredential && global.navigator && global.navigator.credentials);
  }

  function requireSupport() {
    if (!supported()) return Promise.reject(new Error("this browser does not support security keys or passkeys"));
    return Promise.resolve();
  }

  function register(name) {
    return requireSupport()
      .then(function () { return post("/api/v1/me/webauthn/registration/options"); })
      .then(function (options) { return navigator.credentials.create({ publicKey: creationOptions(options) }); })
      .then(function (credential) {
        return post("/api/v1/me/webauthn/registration", {
          credential: registrationJSON(credential),
          name: name || "Security key",
        });
      });
  }

  function authenticate(challenge) {
    return requireSupport()
      .then(function () { return post("/api/v1/auth/mfa/webauthn/options", { challenge: challenge }); })
      .then(function (options) { return navigator.credentials.get({ publicKey: requestOptions(options) }); })
      .then(function (credential) {
        return post("/api/v1/auth/mfa/webauthn", { challenge: challenge, credential: assertionJSON(credential) });
      });
  }

  function passkey() {
    return requireSupport()
      .then(function () { return post("/api/v1/auth/passkey/options"); })
      .then(function (options) { return navigator.credentials.get({ publicKey: requestOptions(options) }); })
      .then(function (credential) { return post("/api/v1/auth/passkey", { credential: assertionJSON(credential) }); });
  }

  global.atriumWebauthn = { register: register, authenticate: authenticate, passkey: passkey, supported: supported };
})(window);
