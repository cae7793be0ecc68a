"""Pages that gather several domains, above all of them: the structure's 360° view, the home page.

A page here may import any domain; no domain imports a page. Each module adds its views to the
blueprint whose endpoint names it keeps (``structures.show``, ``core.home``), so create_app imports
this package before registering the blueprints.
"""
