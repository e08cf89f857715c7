// The hosted payment page's script. The page works without it (its forms
// post to the server); with it, the page talks to the API as any client
// does: the brand's publishable key and the order's client secret only.
(function () {
  "use strict";

  var status = document.getElementById("status");

  function say(message, kind) {
    status.className = "message" + (kind ? " " + kind : "");
    status.textContent = message;
  }

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function api(form, method, path, body) {
    var headers = { "Authorization": "Bearer " + form.dataset.publishableKey };
    var init = { method: method, headers: headers, credentials: "omit" };
    if (body) {
      headers["Content-Type"] = "application/json";
      // One key per attempt: a double submit never pays twice.
      headers["Idempotency-Key"] = newKey();
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      return response.json().then(function (json) {
        return { status: response.status, body: json };
      }, function () {
        return { status: response.status, body: null };
      });
    });
  }

  function finish(form, order) {
    if (order.next_action && order.next_action.url) {
      window.location.assign(order.next_action.url);
      return;
    }
    if ((order.status === "paid" || order.status === "authorized") && form.dataset.returnUrl) {
      window.location.assign(form.dataset.returnUrl);
      return;
    }
    window.location.reload();
  }

  var fieldOf = {
    "payment_method[card][number]": "card-number",
    "payment_method[card][exp_month]": "card-exp",
    "payment_method[card][exp_year]": "card-exp",
    "payment_method[card][cvc]": "card-cvc"
  };

  function clearFieldErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll("input[aria-invalid]"), function (input) {
      input.removeAttribute("aria-invalid");
      var hint = document.getElementById(input.id + "-error");
      if (hint) { hint.textContent = ""; }
    });
  }

  function showFieldError(param, message) {
    var id = fieldOf[param];
    var input = id && document.getElementById(id);
    if (!input) { return false; }
    input.setAttribute("aria-invalid", "true");
    var hint = document.getElementById(id + "-error");
    if (hint) { hint.textContent = message; }
    input.focus();
    return true;
  }

  // MM/YY, MM/YYYY, or the digits alone as a phone's number pad types them.
  function expiry(text) {
    var value = String(text).replace(/\s+/g, "");
    var parts = value.split("/");
    if (parts.length === 1 && (value.length === 4 || value.length === 6)) {
      parts = [value.slice(0, 2), value.slice(2)];
    }
    if (parts.length !== 2 || !/^\d+$/.test(parts[0]) || !/^\d+$/.test(parts[1])) { return null; }
    var month = parseInt(parts[0], 10), year = parseInt(parts[1], 10);
    if (isNaN(month) || isNaN(year)) { return null; }
    return { month: month, year: year < 100 ? 2000 + year : year };
  }

  function pay(form, paymentMethod, button) {
    var label = button.textContent;
    button.disabled = true;
    button.textContent = "Processing…";
    say("Processing your payment…");
    var path = "/v1/orders/" + encodeURIComponent(form.dataset.orderId) + "/confirm";
    api(form, "POST", path, { client_secret: form.dataset.clientSecret, payment_method: paymentMethod })
      .then(function (answer) {
        if (answer.status === 200) {
          say("");
          finish(form, answer.body);
          return;
        }
        var error = (answer.body && answer.body.error) || {};
        button.disabled = false;
        button.textContent = label;
        if (answer.status === 402) {
          say((error.message || "Your card was declined.") + " Please try another card.", "error");
          var number = document.getElementById("card-number");
          var cvc = document.getElementById("card-cvc");
          if (number) { number.value = ""; number.focus(); }
          if (cvc) { cvc.value = ""; }
          return;
        }
        if (answer.status === 400 && showFieldError(error.param, error.message)) {
          say("Please check the card details.", "error");
          return;
        }
        if (answer.status === 400) {
          say(error.message || "Please check the payment details.", "error");
          return;
        }
        // A conflict, or an outcome not known yet (the money may be taken):
        // the page as the server has it shows what happened, never a retry.
        window.location.reload();
      })
      .catch(function () {
        // The request may have reached the server: look before retrying.
        say("Checking your payment…");
        window.location.reload();
      });
  }

  var cardForm = document.getElementById("card-form");
  if (cardForm) {
    cardForm.addEventListener("submit", function (event) {
      event.preventDefault();
      clearFieldErrors(cardForm);
      var number = document.getElementById("card-number").value.replace(/\s+/g, "");
      var exp = expiry(document.getElementById("card-exp").value);
      var cvc = document.getElementById("card-cvc").value.trim();
      var name = document.getElementById("card-name").value.trim();
      if (!number) { showFieldError("payment_method[card][number]", "Enter the card number."); return; }
      if (!exp) { showFieldError("payment_method[card][exp_month]", "Enter the expiry date as MM/YY."); return; }
      if (!cvc) { showFieldError("payment_method[card][cvc]", "Enter the security code."); return; }
      var card = { number: number, exp_month: exp.month, exp_year: exp.year, cvc: cvc };
      if (name) { card.holder_name = name; }
      pay(cardForm, { type: "card", card: card }, document.getElementById("pay-button"));
    });
  }

  var cryptoForm = document.getElementById("crypto-form");
  if (cryptoForm) {
    cryptoForm.addEventListener("submit", function (event) {
      event.preventDefault();
      pay(cryptoForm, { type: "crypto" }, document.getElementById("crypto-button"));
    });
  }

  // A processing payment: ask again every two seconds until it settles.
  var processing = document.getElementById("processing");
  if (processing) {
    var poll = function () {
      var path = "/v1/orders/" + encodeURIComponent(processing.dataset.orderId) +
        "?client_secret=" + encodeURIComponent(processing.dataset.clientSecret);
      api(processing, "GET", path).then(function (answer) {
        if (answer.status === 200 && answer.body.status !== "processing") {
          finish(processing, answer.body);
        } else {
          window.setTimeout(poll, 2000);
        }
      }, function () { window.setTimeout(poll, 2000); });
    };
    window.setTimeout(poll, 2000);
  }
})();
