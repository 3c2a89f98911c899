"""The payouts part of the state machine's model: what is due, batches, lines.

Mixed into tests/state_model.Model, whose rewards, flags and disputes it reads.
"""

from referral_site.referrals.storage.models import RewardStatus

APPROVED, PAID = RewardStatus.APPROVED, RewardStatus.PAID
#: Rules whose rewards are cash, paid out in batches (the others are store credit).
CASH_RULES = ("first", "share", "manual", "manual-deduction")

Key = tuple[str, str, int]  # rule, source, recipient
LineKey = tuple[int, int, str]  # batch id, recipient, currency


class PayoutModel:
    """Payout batches as the README promises them, on the model's rewards."""

    def _cash(self, key: Key) -> bool:
        if key[0] == "adjustment":
            return self._cash(self.rewards[key].adjusts)
        return key[0] in CASH_RULES

    def adjusted(self, key: Key, amount: int, currency: str) -> None:
        """An admin's manual cash reward or deduction, approved at once."""
        from tests.state_model import FAR, ModelReward

        self.rewards[key] = ModelReward(
            amount, currency, APPROVED, FAR, None, granted=amount
        )

    def due(self) -> dict[tuple[int, str], list[Key]]:
        """Approved cash rewards in no open line, per recipient and currency; a
        positive one waits while its payment is disputed or its referral flagged."""
        found: dict[tuple[int, str], list[Key]] = {}
        for key, r in sorted(self.rewards.items()):
            waiting = r.amount > 0 and (self._held(r) or r.referral in self.flagged)
            if r.status == APPROVED and r.line is None and self._cash(key):
                if not waiting:
                    found.setdefault((key[2], r.currency), []).append(key)
        return found

    def batch_created(self, batch_id: int | None) -> dict[tuple[int, str], int]:
        """The lines a batch of everything payable gets (net above 0)."""
        lines = {
            pair: keys
            for pair, keys in self.due().items()
            if sum(self.rewards[k].amount for k in keys) > 0
        }
        for (user_id, currency), keys in lines.items():
            if batch_id is not None:
                line = (batch_id, user_id, currency)
                self.lines[line] = (keys, "open")
                for key in keys:
                    self.rewards[key].line = line
        return {
            pair: sum(self.rewards[k].amount for k in keys)
            for pair, keys in lines.items()
        }

    def batch_paid(self, batch_id: int) -> None:
        for line, (keys, status) in list(self.lines.items()):
            if line[0] == batch_id and status == "open":
                self.lines[line] = (keys, "paid")
                for key in keys:
                    self.rewards[key].status = PAID
                    self.rewards[key].line = None

    def line_failed(self, line: LineKey) -> None:
        keys, _ = self.lines[line]
        self.lines[line] = (keys, "failed")
        for key in keys:
            self.rewards[key].line = None

    def open_lines(self) -> list[LineKey]:
        return sorted(k for k, (_, status) in self.lines.items() if status == "open")
