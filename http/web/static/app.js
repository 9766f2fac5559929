// Palimpsest UI progressive enhancement: confirm destructive form posts.
// Everything works without this script.
"use strict";
document.addEventListener("submit", function (ev) {
  var form = ev.target;
  var msg = form && form.getAttribute && form.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    ev.preventDefault();
  }
});
