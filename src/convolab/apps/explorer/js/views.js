// The page's views, side by side behind tabs: this file is loaded before every view, which
// registers itself with CL.registerView({id, title, create}); app.js starts them.
// create(section) builds the view inside its <section> once and returns {load(params)}; load is
// called with the URL's parameters (a Map) whenever the fragment names this view (or none).
// A new view (a receptive field over a small stack, the feature maps of a trained LeNet) is one
// more file that registers itself, drawing with CL.drawGrid and keeping its state with
// CL.hash: nothing here changes.
(function (CL) {
  "use strict";
  CL.views = [];
  CL.registerView = (view) => { CL.views.push(view); };
})(window.Convolab = window.Convolab || {});
