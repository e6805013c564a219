"""Debian's Chromium as the tests start it (Playwright's `browser` fixture, the reports' raw
DevTools check): its switches in one place. A plain module, not a conftest: conftests are not
importable under `--import-mode=importlib`."""

from __future__ import annotations

#: Chromium 156 opens its address bar's suggestion popup, a WebUI page, in a renderer of its
#: own for every page a test opens, even headless (`chrome://omnibox-popup.top-chrome/`): about
#: 0.6 s of CPU a page, a third of the browser's work in a page-per-test suite. No test types
#: into an address bar.
NO_OMNIBOX_POPUP = "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup,WebUIOmniboxFullPopup"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    NO_OMNIBOX_POPUP,
]
