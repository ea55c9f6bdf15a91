"""Every storefront text exists in English and in Japanese (web/src/store/messages.ts), and every
key the pages use is in the dictionary. No browser needed: the files are read."""

from __future__ import annotations

import re

from tests.browser.storefront import REPO_ROOT

STORE = REPO_ROOT / "web" / "src" / "store"


def dictionary(name: str) -> set[str]:
    source = (STORE / "messages.ts").read_text()
    block = re.search(rf"const {name}: Record<string, string> = \{{(.*?)\n\}};", source, re.S)
    assert block, f"no {name} dictionary in messages.ts"
    return set(re.findall(r'^\s*"(store\.[^"]+)":', block.group(1), re.M))


def test_every_text_is_in_english_and_japanese() -> None:
    en, ja = dictionary("en"), dictionary("ja")
    assert en, "the English dictionary is empty"
    assert sorted(en - ja) == [], "texts without Japanese"
    assert sorted(ja - en) == [], "texts without English"


def test_every_key_the_pages_use_has_a_text() -> None:
    known = dictionary("en")
    used: set[str] = set()
    for path in STORE.rglob("*.ts*"):
        if path.name != "messages.ts":
            used |= set(re.findall(r'"(store\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)+)"', path.read_text()))
    assert used, "no t() keys found in the pages"
    # A prefix given to labelFor ("store.live.state" + "." + the API's value) stands for its keys.
    missing = {key for key in used - known if not any(k.startswith(f"{key}.") for k in known)}
    assert sorted(missing) == []
