// Reading settings (适老化): large font and high contrast, remembered on this device.
(function () {
  var root = document.documentElement;
  function bind(id, cls) {
    var button = document.getElementById(id);
    if (!button) return;
    var on = localStorage.getItem("h5-" + cls) === "1";
    root.classList.toggle(cls, on);
    button.setAttribute("aria-pressed", String(on));
    button.addEventListener("click", function () {
      on = !on;
      root.classList.toggle(cls, on);
      button.setAttribute("aria-pressed", String(on));
      localStorage.setItem("h5-" + cls, on ? "1" : "0");
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    bind("font-toggle", "large");
    bind("contrast-toggle", "contrast");
  });
})();
