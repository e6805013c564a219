"""Debian's Chromium as the tests start it (Playwright's `browser` fixture, the reports' raw
DevTools check): its switches in one place. A plain module, not a conftest: conftests are not
importable under `--import-mode=importlib`."""

from __future__ import annotations

import shutil

#: Debian's `chromium-headless-shell`: Chromium's headless build (the one Playwright itself runs
#: for headless Chromium), the same Blink engine and release as Debian's `chromium` without the
#: desktop browser around it. Measured on 2026-12-06 (2 cores), 15 sign-ins each opening a queue,
#: a case and the dashboard: 5.2 s of CPU against 10.9 s for `chromium`, the screenshots
#: pixel-identical.
HEADLESS_SHELL = "chromium-headless-shell"

#: Chromium 156 opens its address bar's suggestion popup, a WebUI page, in a renderer of its
#: own for every page a test opens, even headless (`chrome://omnibox-popup.top-chrome/`): about
#: 0.6 s of CPU a page, a third of the browser's work in a page-per-test suite. No test types
#: into an address bar. (The headless shell has no address bar; the switch stays for a run
#: pointed at the full browser.)
NO_OMNIBOX_POPUP = "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup,WebUIOmniboxFullPopup"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    NO_OMNIBOX_POPUP,
]


def executable() -> str:
    """The headless shell's path, or a clear error naming the Debian package."""
    path = shutil.which(HEADLESS_SHELL)
    if path is None:
        raise RuntimeError(
            f"{HEADLESS_SHELL} is not installed: `make install` (as root) puts Debian's "
            f"package of that name there"
        )
    return path
