"""The agent desk in the browser: sign-in pages and the one page (HTML, CSS, JS modules) agents work in."""
