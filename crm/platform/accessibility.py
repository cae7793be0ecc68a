"""The accessibility statement (RGAA 4.1) and the multi-year plan, shown at /accessibilite.

Law 2005-102 art. 47 and decree 2019-768 require a public body's online service to publish a
statement in the RGAA form (status, test results, non-accessible content, derogations, contact,
remedies) and a multi-year plan with a yearly action plan, linked from every page with the mention
"Accessibilité : <status>". The figures below say what was checked and how; update them with each
audit. The automatic checks run in CI: tests/browser (axe-core on every page the journeys visit).
"""

from __future__ import annotations

# "non conforme" as long as no full RGAA audit (the 106 criteria on a sample of pages) has been done:
# automatic checks find about a third of the problems and cannot establish a conformity rate.
ACCESSIBILITY_STATUS = "non conforme"
STATEMENT_DATE = "7 décembre 2026"
RGAA_VERSION = "4.1.2"

# The pages of the sample, by what a user does with them (RGAA: representative pages and journeys).
AUDITED_PAGES = [
    ("Connexion", "/connexion"),
    ("Accueil de chaque rôle (tableau de bord, ma journée, mes événements)", "/"),
    ("Tableau de bord des indicateurs et détail d'un indicateur", "/tableau-de-bord"),
    ("Liste des structures et fiche 360° d'une structure", "/structures"),
    ("Saisie et liste des activités", "/activites"),
    ("Pipeline des opportunités et fiche d'une opportunité", "/pipeline"),
    ("Projets", "/projets"),
    ("Événements : liste, fiche, formulaire, accueil des participants", "/evenements"),
    ("Page publique d'un événement, inscription, confirmation, annulation", "/e/…"),
    ("Mes relances", "/relances"),
    ("Administration : imports, référentiels, utilisateurs, e-mails, règles", "/admin/"),
    ("Déclaration d'accessibilité", "/accessibilite"),
]

KNOWN_ISSUES = [
    "Les cartes et graphiques sont des images SVG : leurs données sont reprises dans un tableau "
    "(« Voir les données ») sous chaque graphique ; la carte seule ne permet pas de comparer les départements "
    "sans ce tableau.",
    "Le glisser-déposer du pipeline a une alternative au clavier (menu « Déplacer » sur chaque carte) ; "
    "le glisser-déposer lui-même n'est pas utilisable au clavier.",
    "Les fichiers exportés (CSV, XLSX) et les documents joints aux e-mails (invitations .ics) n'ont pas fait "
    "l'objet d'un contrôle d'accessibilité.",
    "Aucune vérification n'a encore été faite avec un lecteur d'écran (NVDA, JAWS, VoiceOver) par une "
    "personne qui l'utilise au quotidien.",
]

# Multi-year plan (schéma pluriannuel) and its yearly actions.
PLAN_YEARS = "2027-2029"
PLAN = [
    (
        "2027",
        [
            "Audit de conformité RGAA complet par un prestataire externe sur l'échantillon de pages ci-dessus "
            "(premier trimestre), publication du taux de conformité et mise à jour de cette déclaration.",
            "Correction des non-conformités relevées, par ordre de gravité, avant la fin du troisième trimestre.",
            "Tests utilisateurs avec des personnes utilisant un lecteur d'écran ou la navigation au clavier "
            "(animateurs et participants aux événements).",
            "Formation des administrateurs à la rédaction accessible des contenus qu'ils saisissent "
            "(intitulés d'événements, e-mails, référentiels).",
        ],
    ),
    (
        "2028",
        [
            "Accessibilité des documents produits (bilan annuel PDF, exports XLSX) : structure, en-têtes de "
            "tableaux, langue, titres.",
            "Contre-audit sur les pages ajoutées ou refondues en 2027-2028.",
        ],
    ),
    (
        "2029",
        [
            "Audit de conformité complet de l'ensemble du service et nouveau schéma pluriannuel.",
        ],
    ),
]
