"""The translator's one exception, shared by its modules."""


class Untranslatable(Exception):
    """The n8n value uses something with no same-meaning ConcertMaster form."""
