// Small behaviours the pages share. Loaded as a file: the Content-Security-Policy allows no inline script.
"use strict";
document.addEventListener("submit", (event) => {
  // A form that asks first (erase, revoke): data-confirm holds the question.
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
