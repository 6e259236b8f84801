"""Live boxes: what `sandbox run --name NAME` leaves reachable while it runs.  Side: parent.

registry  one entry per running named box (who its init is, how its program is confined);
control   what `sandbox ps`, `freeze`, `thaw` and `kill` do to one;
exec      `sandbox exec`: a command inside one, confined exactly as its program is.
The supervisor knows none of this: a named run is a hook (registry.NamedBox) passed to it.
"""
