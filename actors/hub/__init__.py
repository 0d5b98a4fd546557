"""The hub's position actor: a pure machine (:mod:`actors.hub.machine`) deciding every
reservation, commit, abort, expiry and funds movement of the participants it holds, and a shell
(:mod:`actors.hub.shell`) that batches commands, writes each batch in one MongoDB transaction with
its journal entries, and notifies participants after the commit."""
