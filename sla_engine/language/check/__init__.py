"""Semantic checks: everything a policy set can get wrong after it parses.

``sla-engine check`` runs these so a RevOps author learns about a misspelt field, an
unreachable tier or an impossible plan before the engine silently judges leads by it.
Every problem of every file is reported at once, each at the policy text that causes it.

Diagnostic codes (stable; documentation and tooling rely on them):

======  ===================================================================================
Code    Meaning
======  ===================================================================================
E001    Syntax: unexpected token (parser)
E002    Syntax: unexpected character (parser)
E003    Syntax: the file ends in the middle of a statement (parser)
E004    The file is not UTF-8 text
E005    The file nests conditions too deeply to read
E006    Too many errors in one file: the first MAX_ERRORS_PER_FILE are shown, then how many more
E007    The file is larger than a policy file can be (MAX_POLICY_BYTES)
E008    The file is a link to something outside the policy directory (not read)
E101    A literal the grammar accepts but that means nothing (2026-02-30, 25:00, "fry")
E201    Unknown name: field, score, definition, stage, calendar, contact, window, tier,
        plan or plan value, event kind, event field, stage in ``since``
E202    Type mismatch: operands that cannot be compared, ``>``/``<`` on text or true/false,
        ``matches`` on a non-text, a non-true/false used as a condition, an enum value
        not among the field's values, ``per`` on a non-number, a goal of the wrong kind
E203    Duplicate or ambiguous name: a name declared twice, one name for a field and a
        score/definition/stage (or a standard lead field), a tier/window/target twice in
        a policy, two goals for one tier, a one-value item (``starts``, ``metric``,
        ``timezone``, ``win rate``…) given twice in one block, a policy's own definition
        or stage named like a field or a shared declaration of another kind
E204    Reference cycle among definitions, scores and stages (``a → b → a``)
E205    Unreachable tier: after a catch-all, a same or narrower condition than an earlier
        tier, after ``otherwise not covered``; ``otherwise not covered`` twice or after a
        catch-all
E206    A window that never starts, never stops or has no goal
E207    A duration (goal, warning, escalation, task due) or period count that is not positive
E208    A percentage outside 0-100 (target goal, tolerance)
E209    A warning at or after the deadline (``warn at 100%``, ``warn 3h before due`` on a 2h goal)
E210    Escalation levels out of order, given twice, or of the wrong kind for a window or
        target; ``escalate at warning`` (or ``when at risk``) in a window with no ``warn``,
        ``when at risk`` in a target with no ``tolerance``
E211    A plan that cannot be worked back: a rate outside (0, 1], a missing revenue, deal
        size or win rate, a conversion chain that does not lead from mql to opportunity,
        a revenue period that is not week, month or quarter
E212    Invalid calendar or time zone: unknown IANA zone, holiday country or subdivision,
        zero-length interval, no hours, a date both closed and open, a business-time goal
        with no calendar
E213    A ``matches`` pattern that is not a valid regular expression
E214    Unknown recipient, team or channel; a contact with no address for the channel
E215    A contact or team attribute that does not exist, is given twice or has the wrong value
E216    Target misuse: no metric, unknown period or owner, an aggregate that is not
        average, median or pNN, a metric subject of the wrong kind
E217    ``since start`` outside a window's ``stops`` or ``pauses`` (there is no clock start)
E218    ``count(... within D)`` with a business duration: recency is plain time
======  ===================================================================================

The checks live by declaration kind, one module each (``names``, ``stages``, ``calendars``,
``contacts``, ``plans``, ``conditions``, ``tiers``, ``windows``, ``actions``, ``targets``,
``policies``), as classes that build on the ones they need; ``checker.Checker`` puts them together
over one shared symbol table, and ``files`` reads the files.
"""

from sla_engine.language.check.checker import channels_used, check_policy_set
from sla_engine.language.check.files import MAX_ERRORS_PER_FILE, MAX_POLICY_BYTES, check_files_of_set, check_paths

__all__ = ["MAX_ERRORS_PER_FILE", "MAX_POLICY_BYTES", "channels_used", "check_files_of_set", "check_paths",
           "check_policy_set"]
