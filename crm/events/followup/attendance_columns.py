"""The column names of the video tools' attendance reports, folded (crm.platform.text.fold).

Teams, Zoom and Livestorm name their columns differently, in the account's language; the
reader (crm.events.followup.attendance_import) tries the chosen tool's names first, then the common ones.
"""

from __future__ import annotations

FIELDS = {
    "email": "Adresse e-mail",
    "name": "Nom complet",
    "first_name": "Prénom",
    "last_name": "Nom de famille",
    "duration": "Durée de présence",
    "joined_at": "Heure d'arrivée",
    "attended": "A participé (oui/non)",
}
TOOLS = {
    "auto": "Détection automatique",
    "teams": "Microsoft Teams",
    "zoom": "Zoom",
    "livestorm": "Livestorm",
    "autre": "Autre outil",
}

# Header names per tool, folded (crm.platform.text.fold), in both languages the tools export in.
COMMON_HEADERS = {
    "email": ["email", "e mail", "adresse e mail", "adresse email", "courriel", "mail", "email address"],
    "name": ["name", "nom", "nom complet", "full name", "participant", "display name", "nom d affichage"],
    "first_name": ["first name", "prenom", "firstname"],
    "last_name": ["last name", "nom de famille", "lastname"],
    "duration": ["duration", "duree", "duration minutes", "duree minutes", "duree de presence"],
    "joined_at": ["join time", "joined at", "heure d arrivee", "arrivee"],
    "attended": ["attended", "a participe", "present", "presence"],
}
TOOL_HEADERS = {
    "teams": {
        "email": ["email", "e mail", "participant id upn", "id du participant upn"],
        "name": ["name", "full name", "nom", "nom complet"],
        "duration": ["in meeting duration", "duree de la reunion", "duree dans la reunion", "duration", "duree"],
        "joined_at": ["first join", "premiere participation", "join time", "heure de participation"],
    },
    "zoom": {
        "email": ["user email", "e mail de l utilisateur", "email", "e mail"],
        "name": [
            "name original name",
            "nom nom d origine",
            "user name original name",
            "nom d utilisateur nom d origine",
            "name",
            "nom",
        ],
        "first_name": ["first name", "prenom"],
        "last_name": ["last name", "nom de famille"],
        "duration": [
            "duration minutes",
            "duree minutes",
            "time in session minutes",
            "duree de la session minutes",
            "temps passe dans la session minutes",
        ],
        "joined_at": ["join time", "heure d arrivee", "heure de connexion"],
        "attended": ["attended", "a participe", "present"],
    },
    "livestorm": {
        "email": ["email", "e mail", "adresse e mail"],
        "first_name": ["first name", "prenom"],
        "last_name": ["last name", "nom", "nom de famille"],
        "duration": [
            "attendance duration",
            "duree de presence",
            "attendance duration minutes",
            "duree de participation",
        ],
        "joined_at": ["connection time", "joined at", "heure de connexion", "first connection"],
        "attended": ["attended", "a participe", "present"],
    },
}
# Header names only one tool writes: they tell which tool made the file.
SIGNATURES = {
    "teams": {
        "in meeting duration",
        "first join",
        "participant id upn",
        "premiere participation",
        "id du participant upn",
        "duree dans la reunion",
    },
    "zoom": {
        "name original name",
        "nom nom d origine",
        "user name original name",
        "e mail de l utilisateur",
        "nom d utilisateur nom d origine",
        "time in session minutes",
        "duree de la session minutes",
    },
    "livestorm": {"attendance duration", "attendance rate", "registered at", "utm source", "taux de presence"},
}
# Section titles above the participants table, when the file holds several tables.
PARTICIPANT_SECTIONS = {
    "2 participants",
    "participants",
    "attendee details",
    "details des participants",
    "participant details",
}
YES = {"yes", "oui", "true", "vrai", "1", "x", "y", "o"}
NO = {"no", "non", "false", "faux", "0", "n"}
