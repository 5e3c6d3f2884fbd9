"""The command lines: ``research-train`` (``train``), ``research-aggregate``
(``aggregate``), ``research-figures`` (``figures``) and ``research-export`` (``export``)."""
