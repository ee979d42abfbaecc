// The sensitivity page's behaviour, in a file of its own: the Content-Security-Policy allows
// scripts from this site only, never inline ones.
(function () {
  // When the CSM picks another scope or sensitivity, each empty threshold's placeholder and
  // help text say what leaving it empty means there (the server renders them for the scope
  // the form opened on; without script they follow a Preview).
  var form = document.getElementById("settings-form");
  if (!form) {
    return;
  }
  var scope = ["customer", "metric", "sensitivity"];
  function refresh() {
    var params = new URLSearchParams();
    scope.forEach(function (name) { params.set(name, form.elements[name].value); });
    fetch(form.dataset.inForceUrl + "?" + params, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : {}; })
      .then(function (fields) {
        Object.keys(fields).forEach(function (name) {
          var input = form.elements[name];
          input.placeholder = fields[name].placeholder;
          var help = document.getElementById(input.id + "_help");
          if (help) {
            help.textContent = fields[name].help_text;
          }
        });
      });
  }
  scope.forEach(function (name) { form.elements[name].addEventListener("change", refresh); });
})();
