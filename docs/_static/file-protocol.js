// A page opened from disk (file://) may not fetch another page: there, Sphinx's search lists its results without
// the excerpt it would fetch from each one (served over http, it shows them).
if (window.location.protocol === "file:" && typeof DOCUMENTATION_OPTIONS !== "undefined") {
  DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;
}
