// Form behaviours: conditional fields, no double submits, focus on errors, print buttons.
// Every form works without this file; the server validates everything again.
(function () {
  "use strict";

  // The value a condition reads: null when unanswered, else true/false.
  function answer(form, name) {
    var inputs = form.querySelectorAll('[name="' + name.replace(/"/g, "") + '"]');
    var value = null;
    inputs.forEach(function (input) {
      if (input.disabled) { return; }
      if (input.type === "radio" || input.type === "checkbox") {
        if (input.checked) { value = input.value; }
      } else if (input.value.trim() !== "") {
        value = input.value.trim();
      }
    });
    if (value === null) { return null; }
    return !/^(false|0|no|off)$/i.test(value);
  }

  // Show a field whose required-when is `x` when x is yes/filled in, `not x` when x is no;
  // a hidden field's inputs are disabled so nothing stale is sent.
  function setUpConditions(form) {
    var conditional = form.querySelectorAll("[data-show-when]");
    if (!conditional.length) { return; }
    function update() {
      conditional.forEach(function (wrapper) {
        var value = answer(form, wrapper.getAttribute("data-show-when"));
        var negated = wrapper.getAttribute("data-show-negated") === "true";
        var show = value !== null && value !== negated;
        wrapper.hidden = !show;
        wrapper.querySelectorAll("input, select, textarea").forEach(function (input) {
          input.disabled = !show;
          if (show) { input.setAttribute("required", ""); } else { input.removeAttribute("required"); }
        });
      });
    }
    form.addEventListener("change", update);
    form.addEventListener("input", update);
    update();
  }

  function preventDoubleSubmit(form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll('button[type="submit"]').forEach(function (button) {
        // After the browser has taken the click, so the button's own value still goes out.
        window.setTimeout(function () { button.disabled = true; }, 0);
      });
    });
  }

  document.querySelectorAll("form[data-pf-form]").forEach(function (form) {
    setUpConditions(form);
    preventDoubleSubmit(form);
  });

  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
