"""The update log in Django's database: the core's ``UpdateStore``, group commit, the DB thread."""
