// Referral page behaviour, loaded as a static file (no inline script, CSP-friendly).
// - <button data-copy-target="input-id">: copy the input's value; status in
//   [data-copy-status]. Clipboard API first, then execCommand, then select the text.
// - [data-native-share] is revealed where the browser has a share sheet, and its
//   button opens it with data-share-url / data-share-title.
// - inputs with data-select-on-focus select their text when focused or clicked.
// - a form with data-reward-queue: [data-select-page] ticks every row of the page,
//   [data-select-matching] stands for every reward of the filter; the count
//   selected is said in [data-selected-count].
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

  function announce(button, message, copied) {
    var status = document.querySelector("[data-copy-status]");
    if (status) status.textContent = message;
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    if (!copied) return;
    button.textContent = "Copied!";
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
    var done = function () { announce(button, "Link copied to clipboard.", true); };
    var manual = function () {
      selectText(input);
      announce(button, "Press Ctrl+C (or \u2318+C) to copy the selected link.", false);
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

  function nativeShare(button) {
    navigator.share({
      title: button.dataset.shareTitle,
      text: button.dataset.shareTitle,
      url: button.dataset.shareUrl,
    }).catch(function () { /* the person closed the sheet */ });
  }

  document.addEventListener("click", function (event) {
    var copyButton = event.target.closest("[data-copy-target]");
    if (copyButton) copy(copyButton);
    var shareButton = event.target.closest("[data-share-url]");
    if (shareButton && navigator.share) nativeShare(shareButton);
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) {
      event.target.select();
    }
  });

  function queueCount(form) {
    var boxes = form.querySelectorAll('input[name="reward_ids"]');
    var ticked = form.querySelectorAll('input[name="reward_ids"]:checked').length;
    var matching = form.querySelector("[data-select-matching]");
    var pageBox = form.querySelector("[data-select-page]");
    if (pageBox) {
      pageBox.checked = ticked === boxes.length && boxes.length > 0;
      pageBox.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    var out = form.querySelector("[data-selected-count]");
    if (!out) return;
    if (matching && matching.checked) {
      var total = document.querySelector("[data-matching]");
      var n = total ? Number(total.dataset.matching) : 0;
      out.textContent = n.toLocaleString("en-US") + " selected (all matching)";
    } else {
      out.textContent = ticked.toLocaleString("en-US") + " selected";
    }
  }

  document.querySelectorAll("[data-reward-queue]").forEach(function (form) {
    var label = form.querySelector("[data-select-page-label]");
    if (label) label.hidden = false;
    form.addEventListener("change", function (event) {
      var target = event.target;
      if (target.matches("[data-select-page]")) {
        form.querySelectorAll('input[name="reward_ids"]').forEach(function (box) {
          box.checked = target.checked;
        });
      }
      if (target.matches("[data-select-matching]") && target.checked) {
        form.querySelectorAll('input[name="reward_ids"]').forEach(function (box) {
          box.checked = true;
        });
      }
      if (target.matches('input[name="reward_ids"]') && !target.checked) {
        var matching = form.querySelector("[data-select-matching]");
        if (matching) matching.checked = false;
      }
      queueCount(form);
    });
    queueCount(form);
  });

  if (navigator.share) {
    document.querySelectorAll("[data-native-share]").forEach(function (item) {
      item.hidden = false;
    });
  }
})();
