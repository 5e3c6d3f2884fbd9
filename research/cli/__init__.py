"""The command lines: ``research-train`` (``train``), ``research-aggregate``
(``aggregate``) and ``research-figures`` (``figures``)."""
