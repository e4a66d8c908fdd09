"""The browser tracker (``tracker/eS.js``) as served by shoptrack, and the demo shop page."""
