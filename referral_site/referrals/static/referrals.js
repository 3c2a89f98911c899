// Copy buttons: <button data-copy-target="input-id">, status in [data-copy-status].
(function () {
  "use strict";

  function selectText(input) {
    input.focus();
    input.select();
    input.setSelectionRange(0, input.value.length);
  }

  function fallbackCopy(input) {
    selectText(input);
    try {
      return document.execCommand("copy");
    } catch (err) {
      return false;
    }
  }

  function announce(button, message) {
    var status = document.querySelector("[data-copy-status]");
    if (status) status.textContent = message;
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = message.indexOf("Copied") === 0 ? "Copied!" : label;
    button.classList.add("is-copied");
    window.clearTimeout(button._copyTimer);
    button._copyTimer = window.setTimeout(function () {
      button.textContent = label;
      button.classList.remove("is-copied");
    }, 2500);
  }

  function copy(button) {
    var input = document.getElementById(button.dataset.copyTarget);
    if (!input) return;
    var done = function () { announce(button, "Copied to clipboard."); };
    var manual = function () {
      selectText(input);
      announce(button, "Press Ctrl+C (or Cmd+C) to copy the selected link.");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        if (fallbackCopy(input)) done(); else manual();
      });
    } else if (fallbackCopy(input)) {
      done();
    } else {
      manual();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (button) copy(button);
  });
})();
