"""Crawl every page each role can reach, run axe-core on it, measure its layout and take screenshots.

    .venv/bin/python bin/ui_audit.py --base http://127.0.0.1:5000 --password '…' \
        [--widths 1280,768] [--shots docs/screenshots/after] [--max-pages 80]

The accounts are the demo seed's (instance/demo_logins.txt lists them with the password). Prints, per
role and width, each page with its serious/critical axe violations, its height and any horizontal
overflow; exits 1 when there is at least one such violation. Not a test (the browser tests check the
same on the test data); a tool to audit the real demo pages and to keep docs/screenshots current.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.audit import axe_violations, crawl, layout  # noqa: E402

ROLES = {
    "manager": "elodie.marty@esante-occitanie.fr",
    "animateur": "sandrine.riviere@esante-occitanie.fr",
    "organisateur": "emilie.vidal@esante-occitanie.fr",
    "admin": "camille.negre@esante-occitanie.fr",
}
SHOTS = {  # page kind → screenshot name (the main pages of the README)
    "/tableau-de-bord": "tableau-de-bord",
    "/mon-tableau-de-bord": "mon-tableau-de-bord",
    "/ma-journee": "ma-journee",
    "/pipeline": "pipeline",
    "/structures": "structures",
    "/structures/N": "structure-360",
    "/activites": "activites",
    "/evenements": "evenements",
    "/evenements/N": "evenement",
    "/evenements/nouveau": "evenement-formulaire",
    "/accessibilite": "accessibilite",
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:5000")
    parser.add_argument("--password", required=True)
    parser.add_argument("--widths", default="1280,768")
    parser.add_argument("--shots", default="")
    parser.add_argument("--roles", default=",".join(ROLES))
    parser.add_argument("--max-pages", type=int, default=80)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    failures = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=["--no-sandbox"])
        for width in [int(w) for w in args.widths.split(",")]:
            for role in args.roles.split(","):
                context = browser.new_context(locale="fr-FR", viewport={"width": width, "height": 900})
                page = context.new_page()
                page.goto(args.base + "/connexion")
                page.get_by_label("Adresse e-mail").fill(ROLES[role])
                page.get_by_label("Mot de passe").fill(args.password)
                page.get_by_role("button", name="Se connecter").click()
                page.wait_for_load_state()
                print(f"\n## {role} @ {width} px (home: {page.url})")
                for key in crawl(page, args.base, "/", args.max_pages):
                    violations = axe_violations(page)
                    box = layout(page)
                    failures += len(violations)
                    wide = box["scroll_width"] > box["width"] + 1 or box["overflowing"]
                    flag = "" if not violations and not wide else "  <<"
                    print(f"{key:55} h={box['height']:5} sw={box['scroll_width']:5}{flag}")
                    for v in violations:
                        print("    axe", v)
                    if wide:
                        failures += 1
                        print("    overflow", box["scroll_width"], box["overflowing"][:4])
                    if args.shots and key in SHOTS:
                        out = Path(args.shots) / f"{SHOTS[key]}-{role}-{width}.png"
                        out.parent.mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(out), full_page=False)
                context.close()
        browser.close()
    print(f"\n{failures} violation(s) serious/critical or page(s) wider than the window")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
