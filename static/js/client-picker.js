/* A search box for a long list of tick boxes (the booking form's clients: a CheckboxSelectMultiple
 * with class "picker"). Without this script the list still works: it scrolls. With it, typing
 * filters the list by name (ticked clients always stay visible), and a line under the list names
 * who is chosen. No library, no inline script (the CSP forbids them).
 */
(function () {
  "use strict";
  function fold(text) {
    return text.toLocaleLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "");
  }

  function enhance(list) {
    var rows = Array.prototype.slice.call(list.querySelectorAll("label"));
    if (!rows.length) { return; }
    var search = document.createElement("input");
    search.type = "search";
    search.className = "picker-search";
    search.placeholder = "Search by name";
    search.setAttribute("aria-label", "Search clients by name");
    search.setAttribute("aria-controls", list.id);
    search.autocomplete = "off";
    var chosen = document.createElement("p");
    chosen.className = "picker-chosen muted";
    chosen.setAttribute("aria-live", "polite");
    list.parentNode.insertBefore(search, list);
    list.parentNode.insertBefore(chosen, list.nextSibling);

    function box(row) { return row.querySelector("input[type=checkbox]"); }

    function filter() {
      var words = fold(search.value).split(/\s+/).filter(Boolean);
      rows.forEach(function (row) {
        var name = fold(row.textContent);
        var match = words.every(function (word) { return name.indexOf(word) !== -1; });
        row.parentNode.hidden = !(match || box(row).checked);
      });
    }

    function summarize() {
      var names = rows.filter(function (row) { return box(row).checked; })
        .map(function (row) { return row.textContent.trim(); });
      chosen.textContent = names.length ? "Chosen: " + names.join(", ") : "No client chosen yet.";
    }

    search.addEventListener("input", filter);
    search.addEventListener("keydown", function (event) {
      // Enter picks the only client left, rather than submitting a half-filled form.
      if (event.key !== "Enter") { return; }
      event.preventDefault();
      var shown = rows.filter(function (row) { return !row.parentNode.hidden && !box(row).checked; });
      if (shown.length === 1) {
        box(shown[0]).checked = true;
        search.value = "";
        filter();
        summarize();
      }
    });
    list.addEventListener("change", summarize);
    summarize();
  }

  Array.prototype.forEach.call(document.querySelectorAll("div.picker"), enhance);
})();
