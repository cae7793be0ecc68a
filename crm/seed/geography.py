"""Geography used by the demo data: prefectures, "de la / du / des" forms, regional seats."""

from __future__ import annotations

from crm.platform.text import fold

# code: (preposition used in "CPAM de la Haute-Garonne", prefecture, postal code)
_PREFECTURES = """
01|de l'|Bourg-en-Bresse|01000
02|de l'|Laon|02000
03|de l'|Moulins|03000
04|des|Digne-les-Bains|04000
05|des|Gap|05000
06|des|Nice|06000
07|de l'|Privas|07000
08|des|Charleville-Mézières|08000
09|de l'|Foix|09000
10|de l'|Troyes|10000
11|de l'|Carcassonne|11000
12|de l'|Rodez|12000
13|des|Marseille|13001
14|du|Caen|14000
15|du|Aurillac|15000
16|de la|Angoulême|16000
17|de la|La Rochelle|17000
18|du|Bourges|18000
19|de la|Tulle|19000
2A|de la|Ajaccio|20000
2B|de la|Bastia|20200
21|de la|Dijon|21000
22|des|Saint-Brieuc|22000
23|de la|Guéret|23000
24|de la|Périgueux|24000
25|du|Besançon|25000
26|de la|Valence|26000
27|de l'|Évreux|27000
28|d'|Chartres|28000
29|du|Quimper|29000
30|du|Nîmes|30000
31|de la|Toulouse|31000
32|du|Auch|32000
33|de la|Bordeaux|33000
34|de l'|Montpellier|34000
35|d'|Rennes|35000
36|de l'|Châteauroux|36000
37|d'|Tours|37000
38|de l'|Grenoble|38000
39|du|Lons-le-Saunier|39000
40|des|Mont-de-Marsan|40000
41|de|Blois|41000
42|de la|Saint-Étienne|42000
43|de la|Le Puy-en-Velay|43000
44|de la|Nantes|44000
45|du|Orléans|45000
46|du|Cahors|46000
47|de|Agen|47000
48|de la|Mende|48000
49|de|Angers|49000
50|de la|Saint-Lô|50000
51|de la|Châlons-en-Champagne|51000
52|de la|Chaumont|52000
53|de la|Laval|53000
54|de|Nancy|54000
55|de la|Bar-le-Duc|55000
56|du|Vannes|56000
57|de la|Metz|57000
58|de la|Nevers|58000
59|du|Lille|59000
60|de l'|Beauvais|60000
61|de l'|Alençon|61000
62|du|Arras|62000
63|du|Clermont-Ferrand|63000
64|des|Pau|64000
65|des|Tarbes|65000
66|des|Perpignan|66000
67|du|Strasbourg|67000
68|du|Colmar|68000
69|du|Lyon|69003
70|de la|Vesoul|70000
71|de|Mâcon|71000
72|de la|Le Mans|72000
73|de la|Chambéry|73000
74|de la|Annecy|74000
75|de|Paris|75004
76|de la|Rouen|76000
77|de|Melun|77000
78|des|Versailles|78000
79|des|Niort|79000
80|de la|Amiens|80000
81|du|Albi|81000
82|de|Montauban|82000
83|du|Toulon|83000
84|de|Avignon|84000
85|de la|La Roche-sur-Yon|85000
86|de la|Poitiers|86000
87|de la|Limoges|87000
88|des|Épinal|88000
89|de l'|Auxerre|89000
90|du|Belfort|90000
91|de l'|Évry-Courcouronnes|91000
92|des|Nanterre|92000
93|de la|Bobigny|93000
94|du|Créteil|94000
95|du|Cergy|95000
971|de la|Basse-Terre|97100
972|de la|Fort-de-France|97200
973|de la|Cayenne|97300
974|de La|Saint-Denis|97400
976|de|Mamoudzou|97600
"""

PREFECTURES: dict[str, tuple[str, str, str]] = {}
for _line in _PREFECTURES.strip().splitlines():
    _code, _prep, _city, _postal = _line.split("|")
    PREFECTURES[_code] = (_prep, _city, _postal)

# Seat of each region's ARS and URPS: (department code, commune, postal code).
REGION_SEATS: dict[str, tuple[str, str, str]] = {
    "01": ("971", "Gourbeyre", "97113"),
    "02": ("972", "Fort-de-France", "97200"),
    "03": ("973", "Cayenne", "97300"),
    "04": ("974", "Saint-Denis", "97400"),
    "06": ("976", "Mamoudzou", "97600"),
    "11": ("93", "Saint-Denis", "93200"),
    "24": ("45", "Orléans", "45000"),
    "27": ("21", "Dijon", "21000"),
    "28": ("14", "Caen", "14000"),
    "32": ("59", "Lille", "59000"),
    "44": ("67", "Strasbourg", "67000"),
    "52": ("44", "Nantes", "44000"),
    "53": ("35", "Rennes", "35000"),
    "75": ("33", "Bordeaux", "33000"),
    "76": ("34", "Montpellier", "34000"),
    "84": ("69", "Lyon", "69003"),
    "93": ("13", "Marseille", "13001"),
    "94": ("2A", "Ajaccio", "20000"),
}


def of_department(code: str, name: str) -> str:
    """ "de la Haute-Garonne", "du Gers", "de l'Hérault", "des Pyrénées-Orientales"."""
    prep = PREFECTURES.get(code, ("de",))[0]
    return f"{prep}{name}" if prep.endswith("'") else f"{prep} {name}"


def prefecture(code: str) -> tuple[str, str]:
    """(commune, postal code) of the department's prefecture."""
    _, city, postal = PREFECTURES.get(code, ("de", "", None))
    return city, postal


def slug(text: str) -> str:
    """ "Haute-Garonne" -> "haute-garonne" (for e-mail domains)."""
    return "-".join(fold(text).split())
