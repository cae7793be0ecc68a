"""The words of the seeded history: how animators name their activities, opportunities, milestones
and follow-ups, after the activity reports of e-santé Occitanie (shared/seeds)."""

from __future__ import annotations

# Kind: (weight, share flagged "information", duration choices in minutes or None).
KINDS = {
    "visite": (28, 0.20, (60, 75, 90, 90, 120, 120, 150, 180)),
    "appel": (22, 0.10, (10, 15, 20, 30, 30, 45)),
    "reunion": (16, 0.40, (60, 90, 90, 120, 150)),
    "email": (12, 0.15, (None, None, 5, 10, 15)),
    "demonstration": (8, 0.35, (45, 60, 60, 90, 120)),
    "webinaire": (6, 0.90, (60, 60, 75, 90)),
    "formation": (4, 0.60, (120, 180, 210, 420)),
    "atelier": (3, 0.70, (120, 150, 180, 240)),
    "autre": (1, 0.20, (30, 60)),
}
# The kinds of a meeting of several structures (a CPTS and the EHPAD of its territory).
MULTI_KINDS = {"reunion": 50, "atelier": 20, "webinaire": 15, "formation": 10, "demonstration": 5}

# How a subject or a title names an offer (by offer code); unknown codes use the offer's label.
OFFER_SHORT = {
    "ACCOMP_CRT": "accompagnement numérique CRT",
    "ACCOMP_PROJET": "projet numérique de coordination",
    "SPICO_DOSSIERS": "SPICO Dossiers",
    "SPICO_DISCUSSIONS": "SPICO Discussions",
    "DCC": "DCC",
    "INS": "INS",
    "IDV_ACCOMP": "identitovigilance",
    "VT_SANITAIRE": "ViaTrajectoire sanitaire",
    "VT_GRAND_AGE": "ViaTrajectoire grand âge",
    "VT_HANDICAP": "ViaTrajectoire handicap",
    "TELEO": "Téléo",
    "TELEIMAGERIE": "télé-imagerie",
    "SAS": "SAS",
    "SMURTAB": "SMUR t@b",
    "PILOTAGE": "tableaux de bord d'usage",
    "MES_AMBASSADEURS": "Mon espace santé",
    "SENSIBILISATION": "sensibilisation e-santé",
    "SOBRIETE": "sobriété numérique",
    "CARE": "CaRE",
    "CYBER_SENSIBILISATION": "sensibilisation cybersécurité",
    "ROR": "ROR",
    "MSSANTE": "MSSanté",
    "DMP": "DMP / Mon espace santé",
    "PSC": "Pro Santé Connect",
    "SUN_ES": "SUN-ES",
    "ESMS_NUMERIQUE": "ESMS numérique",
    "CONVERGENCE": "convergence CoMET",
}

# Offers presented, per structure profile: coordination offers most of the time (70 %), the
# others (30 % of the offers presented, as in the 2024 report) after the structure's profile.
COORDINATION_OFFERS = {"SPICO_DOSSIERS": 6, "SPICO_DISCUSSIONS": 3}
CANCER_OFFERS = {"DCC": 1.5}  # the cancer care file: hospitals only
OTHER_OFFERS = {
    "sanitaire": {
        "VT_SANITAIRE": 3,
        "TELEO": 2,
        "TELEIMAGERIE": 1,
        "CARE": 3,
        "CYBER_SENSIBILISATION": 1,
        "INS": 3,
        "IDV_ACCOMP": 2,
        "ROR": 2,
        "MSSANTE": 2,
        "DMP": 1,
        "PSC": 1,
        "SUN_ES": 2,
        "SAS": 0.5,
        "SMURTAB": 0.3,
        "PILOTAGE": 0.5,
        "CONVERGENCE": 0.5,
        "SOBRIETE": 0.3,
    },
    "grand_age": {
        "VT_GRAND_AGE": 4,
        "ESMS_NUMERIQUE": 4,
        "MSSANTE": 2,
        "DMP": 2,
        "INS": 2,
        "TELEO": 1.5,
        "CYBER_SENSIBILISATION": 1,
        "ROR": 1,
        "MES_AMBASSADEURS": 0.5,
    },
    "handicap": {
        "VT_HANDICAP": 4,
        "ESMS_NUMERIQUE": 4,
        "MSSANTE": 2,
        "DMP": 1,
        "INS": 2,
        "ROR": 1.5,
        "CYBER_SENSIBILISATION": 1,
    },
    "exercice_coordonne": {
        "TELEO": 3,
        "MSSANTE": 2,
        "DMP": 2,
        "MES_AMBASSADEURS": 2,
        "PSC": 1,
        "SAS": 1,
        "SENSIBILISATION": 1,
        "ROR": 1,
    },
    "dispositif_coordination": {
        "ACCOMP_CRT": 3,
        "ACCOMP_PROJET": 2,
        "TELEO": 1,
        "MSSANTE": 1,
        "VT_GRAND_AGE": 1,
        "VT_HANDICAP": 0.5,
    },
    "institutionnel": {"SENSIBILISATION": 2, "MES_AMBASSADEURS": 2, "ACCOMP_PROJET": 1, "ROR": 1},
    "social": {"SENSIBILISATION": 2, "MSSANTE": 1, "DMP": 1, "ESMS_NUMERIQUE": 1},
    "liberal": {"MSSANTE": 2, "DMP": 2, "PSC": 1, "TELEO": 1, "MES_AMBASSADEURS": 1},
    "editeur": {"INS": 1, "PSC": 1, "MSSANTE": 1, "SUN_ES": 1, "CONVERGENCE": 1},
}
GRAND_AGE = {"EHPAD", "RA", "SSIAD", "SAAD", "SPASAD"}
# Programmes discussed without a particular offer (a tour of the agency's services...).
PROGRAMME_TOPICS = {
    "ANIMATION_TERRITORIALE": 5,
    "SERVICES_SOCLES": 2,
    "CYBERSECURITE": 2,
    "IDENTITOVIGILANCE": 1,
    "COORDINATION": 1,
}

SUBJECTS = {
    "visite": (
        "Présentation de {offre} à l'équipe de direction",
        "Visite de suivi {offre}",
        "Rencontre avec la direction : besoins autour de {offre}",
        "Point d'étape {offre} sur site",
        "Visite de l'établissement : usages de {offre}",
    ),
    "appel": (
        "Point d'étape {offre}",
        "Appel de suivi du déploiement {offre}",
        "Réponse à une demande d'information sur {offre}",
        "Relance téléphonique {offre}",
    ),
    "reunion": (
        "Réunion de lancement {offre}",
        "Comité de suivi {offre}",
        "Réunion avec l'éditeur du dossier usager : intégration {offre}",
        "Réunion de cadrage {offre}",
    ),
    "demonstration": (
        "Démonstration {offre}",
        "Démonstration {offre} aux équipes soignantes",
        "Démonstration {offre} à l'encadrement",
    ),
    "formation": ("Formation des utilisateurs {offre}", "Formation des référents {offre}"),
    "atelier": ("Atelier pratique {offre}", "Atelier d'échanges de pratiques {offre}"),
    "webinaire": ("Webinaire « {offre} : prise en main »", "Webinaire de présentation {offre}"),
    "email": (
        "Envoi de la documentation {offre}",
        "Envoi du support de présentation {offre}",
        "Transmission de la convention {offre}",
    ),
    "autre": ("Échange informel sur {offre}",),
}
SPECIAL_SUBJECTS = {
    ("webinaire", "ESMS_NUMERIQUE"): "Rendez-vous ESMS numérique (webinaire)",
    ("atelier", "CARE"): "Exercice de crise cyber CaRE",
    ("webinaire", "MES_AMBASSADEURS"): "Webinaire ambassadeurs Mon espace santé",
}
MULTI_SUBJECTS = (
    "Réunion territoriale {hub} : {offre}",
    "Rencontre des partenaires, {hub} : {offre}",
    "Point de coordination {hub} : {offre}",
)
PROGRAMME_SUBJECTS = (
    "Présentation des services e-santé ({programme})",
    "Tour d'horizon des projets numériques",
    "Point sur le programme {programme}",
)

NOTE_OPENINGS = (
    "Échange avec la direction et l'IDEC.",
    "Présents : la directrice, le médecin coordonnateur et la cadre de santé.",
    "Échange avec le référent numérique.",
    "Rencontre avec le DSI et la direction des soins.",
    "Échange avec la coordinatrice.",
    "Présentation en comité de direction.",
)
NOTE_FINDINGS = {
    "COORDINATION": (
        "Besoin de partager les informations de coordination avec le DAC et les IDEL.",
        "Les transmissions avec les partenaires passent encore par téléphone et par fax.",
    ),
    "ORIENTATION": (
        "Les demandes d'admission arrivent encore par mail et par fax.",
        "Les disponibilités ne sont pas mises à jour dans l'outil depuis plusieurs mois.",
    ),
    "SERVICES_SOCLES": (
        "L'établissement n'a pas encore de boîte aux lettres organisationnelle MSSanté.",
        "Les documents de sortie ne sont pas versés au DMP.",
    ),
    "IDENTITOVIGILANCE": ("Les identités ne sont pas qualifiées dans le dossier usager.",),
    "CYBERSECURITE": (
        "Pas d'exercice de crise cyber réalisé à ce jour.",
        "Le plan de continuité d'activité n'intègre pas le risque cyber.",
    ),
    "TELESANTE": ("Projet de téléexpertise avec la filière gériatrique du CH de proximité.",),
}
NOTE_GENERIC = (
    "Intérêt pour les services régionaux, à approfondir.",
    "Éditeur du dossier usager à associer.",
    "Changement de direction récent : projets numériques à reprendre.",
)
NOTE_CLOSINGS = (
    "Documentation envoyée après l'échange.",
    "Intérêt confirmé, à qualifier avec la direction.",
    "Pas de besoin à court terme.",
    "Rendez-vous à prévoir avec l'éditeur.",
    "Support de présentation transmis.",
    "Décision attendue en comité de direction.",
)

GENERIC_NEXT_STEPS = (
    "Envoyer la documentation des services e-santé",
    "Planifier une visite de l'établissement",
    "Relancer la direction sur ses projets numériques",
)
NEXT_STEPS = (
    "Envoyer la documentation {offre}",
    "Relancer la direction sur {offre}",
    "Planifier une démonstration {offre}",
    "Transmettre la convention d'adhésion {offre}",
    "Organiser la formation des référents {offre}",
    "Point téléphonique avec l'IDEC sur {offre}",
    "Faire le point avec l'éditeur : {offre}",
)

OPPORTUNITY_TITLES = {
    "ACCOMP_CRT": "Accompagnement numérique du CRT",
    "ACCOMP_PROJET": "Cadrage d'un projet numérique de coordination",
    "SPICO_DOSSIERS": "Déploiement de SPICO Dossiers",
    "SPICO_DISCUSSIONS": "Ouverture de SPICO Discussions",
    "DCC": "Raccordement au DCC",
    "INS": "Qualification des identités (INS)",
    "IDV_ACCOMP": "Audit identitovigilance",
    "VT_SANITAIRE": "Mise en service de ViaTrajectoire sanitaire",
    "VT_GRAND_AGE": "Redynamisation de ViaTrajectoire grand âge",
    "VT_HANDICAP": "Fiabilisation des données ViaTrajectoire handicap",
    "TELEO": "Projet de téléexpertise Téléo",
    "TELEIMAGERIE": "Raccordement au réseau de télé-imagerie",
    "SAS": "Participation au SAS",
    "SMURTAB": "Déploiement de SMUR t@b",
    "PILOTAGE": "Tableaux de bord d'usage",
    "MES_AMBASSADEURS": "Ambassadeurs Mon espace santé",
    "SENSIBILISATION": "Session de sensibilisation e-santé",
    "SOBRIETE": "Démarche de sobriété numérique",
    "CARE": "Exercice de crise cyber (CaRE)",
    "CYBER_SENSIBILISATION": "Sensibilisation des équipes à la cybersécurité",
    "ROR": "Mise à jour de l'offre dans le ROR",
    "MSSANTE": "Boîte aux lettres organisationnelle MSSanté",
    "DMP": "Alimentation du DMP",
    "PSC": "Connexion par Pro Santé Connect",
    "SUN_ES": "Accompagnement SUN-ES",
    "ESMS_NUMERIQUE": "Candidature ESMS numérique",
    "CONVERGENCE": "Convergence CoMET",
}
NEEDS = (
    "Partager les informations avec les partenaires du parcours sans ressaisie.",
    "Gagner du temps sur les admissions et les sorties.",
    "Répondre aux exigences du Ségur et de l'ARS.",
    "Sécuriser les échanges de données de santé.",
    "Former les nouveaux professionnels arrivés dans l'équipe.",
    "Demande de la direction après la présentation en comité.",
)
MILESTONES = (
    "Réunion de lancement",
    "Convention signée",
    "Paramétrage et ouverture des comptes",
    "Formation des utilisateurs",
    "Mise en production",
    "Bilan des usages à trois mois",
)
OPPORTUNITY_TASKS = (
    "Relancer la structure sur {offre}",
    "Envoyer la proposition {offre}",
    "Planifier la réunion de lancement {offre}",
    "Préparer la démonstration {offre}",
)
PROJECT_TASKS = (
    "Préparer le bilan des usages {offre}",
    "Organiser la session de formation {offre}",
    "Faire signer la convention {offre}",
)
