// The portfolio page's behaviour, in a file of its own: the Content-Security-Policy allows
// scripts from this site only, never inline ones.
(function () {
  // Staff's "Portfolio of" switch submits on change (a Show button stays for no-JS browsers).
  var csmSwitch = document.getElementById("csm-switch");
  if (csmSwitch) {
    csmSwitch.addEventListener("change", function () { csmSwitch.form.submit(); });
  }

  // The ask box suggests the caller's customers as they type.
  var input = document.getElementById("ask-customer");
  var list = document.getElementById("ask-customers");
  if (!input || !list) {
    return;
  }
  var timer;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      fetch(input.dataset.url + "?q=" + encodeURIComponent(input.value), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (rows) {
          list.replaceChildren.apply(list, rows.map(function (row) {
            var option = document.createElement("option");
            option.value = row.name;
            return option;
          }));
        });
    }, 150);
  });
})();
