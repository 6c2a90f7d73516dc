"""Fill rules and accounting: how a bar executes the working orders of its symbol.

:func:`match_symbol` is the whole bar for one symbol: DAY orders expire, market
orders fill at the open, then resting limit/stop/stop-limit orders fill where
the bar's range reaches them, OCO groups resolved by the configured priority.
:func:`fill_order` sizes and checks one execution, then updates its status, the
bracket legs and OCO siblings; :func:`apply_fill` books it
(cash, position, FIFO lots, trades). The rules, with their
tests, are in ``docs/broker.md``. Everything here is numba code over the
tuples described in :mod:`streambt.sim.orders`.
"""

from __future__ import annotations

import numpy as np

from streambt.sim import orders as ob
from streambt.sim.events import NO_TS, Liquidity, RejectReason
from streambt.sim.fees import fee
from streambt.sim.instruments import (
    IN_LOT,
    IN_MAX_NOTIONAL,
    IN_MAX_POSITION,
    IN_MIN_NOTIONAL,
    IN_TICK,
    PRICE_STOP,
    round_lot,
    round_price,
)
from streambt.sim.orders import (
    buying_power,
    cancel_orders,
    compliance_room,
    equity,
    is_working,
    jit,
    jit_inline,
    new_order,
    refuse,
    set_status,
    sweep,
)
from streambt.sim.sizers import entry_units
from streambt.sim.slippage import depends_on_size, slipped

_NO_TS = NO_TS
DAY_US = 86_400_000_000  # a UTC day in microseconds
MAKER = int(Liquidity.MAKER)
TAKER = int(Liquidity.TAKER)
R_INSUFFICIENT_CASH = int(RejectReason.INSUFFICIENT_CASH)
R_MIN_NOTIONAL = int(RejectReason.MIN_NOTIONAL)
R_MAX_NOTIONAL = int(RejectReason.MAX_NOTIONAL)
R_MAX_POSITION = int(RejectReason.MAX_POSITION)
R_COMPLIANCE = int(RejectReason.COMPLIANCE)
R_OCO = int(RejectReason.OCO)
R_EXPIRED_DAY = int(RejectReason.EXPIRED_DAY)
R_POSITION_CLOSED = int(RejectReason.POSITION_CLOSED)
R_COMPLIANCE_SCALED = int(RejectReason.COMPLIANCE_SCALED)
_EPS = 1e-9


@jit_inline
def _fill_price(P, oi, of, slot, base, units, volume):
    """``base`` after slippage, never beyond the order's limit."""
    s = oi[slot, ob.OI_SYM]
    side = oi[slot, ob.OI_SIDE]
    price = slipped(P[5], base, side, P[6][s, IN_TICK], units, volume)
    otype = oi[slot, ob.OI_TYPE]
    if otype in (ob.LIMIT, ob.STOP_LIMIT):
        lim = of[slot, ob.OF_LIMIT]
        price = min(price, lim) if side > 0 else max(price, lim)
    return price


# --- booking a fill ---------------------------------------------------------------------


@jit_inline
def _free_lot(B, k, s, lot):
    gi, li, lht = B[4], B[8], B[10]
    # only the head is ever freed (FIFO)
    lht[k, s, 0] = li[lot, ob.LI_NEXT]
    if lht[k, s, 0] < 0:
        lht[k, s, 1] = -1
    li[lot, ob.LI_NEXT] = gi[ob.G_FREE_LOT]
    gi[ob.G_FREE_LOT] = lot
    gi[ob.G_LOTS_USED] -= 1


@jit
def apply_fill(B, P, E, slot, units, price, liq, ts):
    """Book ``units`` of order ``slot`` at ``price``: cash, position, lots, trades, fill row."""
    acct, pos, symi, gi, gf, oi, of, li, lf, lht = (
        B[0],
        B[1],
        B[3],
        B[4],
        B[5],
        B[6],
        B[7],
        B[8],
        B[9],
        B[10],
    )
    fp, tiers, inst = P[3], P[4], P[6]
    efi, eff, eti, etf, en = E[3], E[4], E[5], E[6], E[7]
    k = oi[slot, ob.OI_STRAT]
    s = oi[slot, ob.OI_SYM]
    side = oi[slot, ob.OI_SIDE]
    oid = oi[slot, ob.OI_ID]
    value = units * price
    commission = fee(fp, tiers, value, units, liq, gf[ob.GF_TRADED])
    gf[ob.GF_TRADED] += value
    # v1's cash expressions, bit for bit
    if side > 0:
        acct[k, ob.AC_CASH] = acct[k, ob.AC_CASH] - (value + commission)
    else:
        acct[k, ob.AC_CASH] = acct[k, ob.AC_CASH] + (value - commission)
    n = en[ob.EN_FILLS]
    efi[n, 0] = oid
    efi[n, 1] = ts
    efi[n, 2] = k
    efi[n, 3] = s
    efi[n, 4] = side
    efi[n, 5] = liq
    eff[n, 0] = units
    eff[n, 1] = price
    eff[n, 2] = commission
    en[ob.EN_FILLS] = n + 1
    of[slot, ob.OF_FILLED] += units
    of[slot, ob.OF_NOTIONAL] += value
    of[slot, ob.OF_COMM] += commission
    bar = symi[s, ob.SI_BARS]
    lot_size = inst[s, IN_LOT]
    left = units
    # close opposite lots first in, first out
    while left > 0.0 and lht[k, s, 0] >= 0:
        lot = lht[k, s, 0]
        held = li[lot, ob.LI_SIDE]
        if held == side:
            break
        q = lf[lot, ob.LF_SIZE]
        c = min(q, left)
        if q - c <= _EPS * lot_size:
            c = q
        entry_fee = lf[lot, ob.LF_FEE] if c == q else lf[lot, ob.LF_FEE] * (c / q)
        exit_fee = commission if c == units else commission * (c / units)
        entry_price = lf[lot, ob.LF_PRICE]
        hi = max(lf[lot, ob.LF_HI], price)
        lo = min(lf[lot, ob.LF_LO], price)
        t = en[ob.EN_TRADES]
        eti[t, 0] = gi[ob.G_NEXT_TRADE]
        gi[ob.G_NEXT_TRADE] += 1
        eti[t, 1] = k
        eti[t, 2] = s
        eti[t, 3] = held
        eti[t, 4] = li[lot, ob.LI_ENTRY_TS]
        eti[t, 5] = ts
        eti[t, 6] = bar - li[lot, ob.LI_ENTRY_BAR]
        eti[t, 7] = oi[slot, ob.OI_ROLE]
        eti[t, 8] = li[lot, ob.LI_ORDER]
        eti[t, 9] = oid
        etf[t, 0] = c
        etf[t, 1] = entry_price
        etf[t, 2] = price
        etf[t, 3] = held * (price - entry_price) * c - entry_fee - exit_fee
        etf[t, 4] = entry_fee + exit_fee
        if held > 0:
            etf[t, 5] = entry_price - lo
            etf[t, 6] = hi - entry_price
        else:
            etf[t, 5] = hi - entry_price
            etf[t, 6] = entry_price - lo
        en[ob.EN_TRADES] = t + 1
        if c == q:
            _free_lot(B, k, s, lot)
        else:
            lf[lot, ob.LF_SIZE] = q - c
            lf[lot, ob.LF_FEE] = lf[lot, ob.LF_FEE] - entry_fee
        left = left - c
        if left <= _EPS * lot_size:
            left = 0.0
    if left > 0.0:
        open_fee = commission if left == units else commission * (left / units)
        tail = lht[k, s, 1]
        if tail >= 0 and li[tail, ob.LI_ORDER] == oid:
            # a further partial fill of the same entry: one lot, average price
            q = lf[tail, ob.LF_SIZE]
            lf[tail, ob.LF_PRICE] = (lf[tail, ob.LF_PRICE] * q + price * left) / (q + left)
            lf[tail, ob.LF_SIZE] = q + left
            lf[tail, ob.LF_FEE] = lf[tail, ob.LF_FEE] + open_fee
            lf[tail, ob.LF_HI] = max(lf[tail, ob.LF_HI], price)
            lf[tail, ob.LF_LO] = min(lf[tail, ob.LF_LO], price)
        else:
            lot = gi[ob.G_FREE_LOT]
            gi[ob.G_FREE_LOT] = li[lot, ob.LI_NEXT]
            gi[ob.G_LOTS_USED] += 1
            li[lot, ob.LI_STRAT] = k
            li[lot, ob.LI_SYM] = s
            li[lot, ob.LI_SIDE] = side
            li[lot, ob.LI_ENTRY_TS] = ts
            li[lot, ob.LI_ENTRY_BAR] = bar
            li[lot, ob.LI_ORDER] = oid
            li[lot, ob.LI_NEXT] = -1
            lf[lot, ob.LF_SIZE] = left
            lf[lot, ob.LF_PRICE] = price
            lf[lot, ob.LF_FEE] = open_fee
            lf[lot, ob.LF_HI] = price
            lf[lot, ob.LF_LO] = price
            if tail >= 0:
                li[tail, ob.LI_NEXT] = lot
            else:
                lht[k, s, 0] = lot
            lht[k, s, 1] = lot
    new_pos = pos[k, s] + side * units
    if abs(new_pos) <= _EPS * lot_size:
        new_pos = 0.0
    pos[k, s] = new_pos
    return commission


@jit
def _place_legs(B, P, E, slot, units, price, ts, active):
    """Stop-loss / take-profit / trailing legs of a filled entry, linked as one OCO group.

    Levels are fractions of the entry's fill ``price``: for a long, a sell stop
    at ``price x (1 - sl)``, a sell limit at ``price x (1 + tp)`` and a trailing
    sell stop starting at ``price x (1 - trail)``; mirrored for a short.
    """
    gi, oi, of = B[4], B[6], B[7]
    k, s, side, oid = (
        oi[slot, ob.OI_STRAT],
        oi[slot, ob.OI_SYM],
        oi[slot, ob.OI_SIDE],
        oi[slot, ob.OI_ID],
    )
    fractions = (of[slot, ob.OF_SL], of[slot, ob.OF_TP], of[slot, ob.OF_TRAIL])
    legs = 0
    for frac in fractions:
        legs += 0 if np.isnan(frac) else 1
    group = 0
    if legs > 1:
        group = gi[ob.G_NEXT_OCO]
        gi[ob.G_NEXT_OCO] = group + 1
    nan = np.nan
    for i in range(3):
        frac = fractions[i]
        if np.isnan(frac):
            continue
        if i == 1:  # take-profit: a limit on the profitable side
            otype, limit, stop = ob.LIMIT, price * (1.0 + side * frac), nan
        else:
            otype, limit, stop = ob.STOP, nan, price * (1.0 - side * frac)
        role = ob.ROLE_SL + i  # STOP_LOSS, TAKE_PROFIT, TRAILING_STOP
        leg = new_order(
            B,
            P,
            E,
            k,
            s,
            -side,
            otype,
            ob.GTC,
            units,
            limit,
            stop,
            role,
            ob.REDUCE_ONLY,
            oid,
            group,
            ts,
            active,
        )
        if i == 2:
            of[leg, ob.OF_TRAIL] = frac
            of[leg, ob.OF_TRAIL_BEST] = price


@jit
def _grow_legs(B, P, E, slot, units, price, ts, active_ts):
    """A further partial fill of an entry adds its units to the working legs (new legs if none)."""
    symi, oi, of = B[3], B[6], B[7]
    oid = oi[slot, ob.OI_ID]
    found = False
    leg = symi[oi[slot, ob.OI_SYM], ob.SI_HEAD]
    while leg >= 0:
        if oi[leg, ob.OI_PARENT] == oid and is_working(oi[leg, ob.OI_STATUS]):
            of[leg, ob.OF_SIZE] += units
            of[leg, ob.OF_REQ] += units
            found = True
        leg = oi[leg, ob.OI_NEXT]
    if not found:
        _place_legs(B, P, E, slot, units, price, ts, active_ts)


@jit
def _after_leg_fill(B, P, E, slot, units, done, ts):
    """OCO: a completed leg cancels its siblings; a partial one shrinks them by its units."""
    symi, oi, of = B[3], B[6], B[7]
    group = oi[slot, ob.OI_OCO]
    if group == 0:
        return
    other = symi[oi[slot, ob.OI_SYM], ob.SI_HEAD]
    while other >= 0:
        if other != slot and oi[other, ob.OI_OCO] == group and is_working(oi[other, ob.OI_STATUS]):
            if done:
                set_status(B, P, E, other, ob.CANCELLED, ts, R_OCO)
            else:
                of[other, ob.OF_SIZE] -= units
                if of[other, ob.OF_SIZE] - of[other, ob.OF_FILLED] <= 0.0:
                    set_status(B, P, E, other, ob.CANCELLED, ts, R_OCO)
        other = oi[other, ob.OI_NEXT]


@jit
def fill_order(B, P, E, slot, base, at_open, liq, ts, volume):
    """Execute order ``slot`` at ``base`` (before slippage) as far as the rules allow.

    Sizes a sizer entry, applies the volume cap, the portfolio compliance
    step, the instrument checks and the cash check, books the fill and updates
    status, bracket legs and OCO siblings. Returns the units filled.
    """
    acct, pos, symf, gf, oi, of = B[0], B[1], B[2], B[5], B[6], B[7]
    sp, bp, fp, tiers, slp, inst = P[0], P[2], P[3], P[4], P[5], P[6]
    k = oi[slot, ob.OI_STRAT]
    s = oi[slot, ob.OI_SYM]
    side = oi[slot, ob.OI_SIDE]
    lot = inst[s, IN_LOT]
    first = of[slot, ob.OF_FILLED] == 0.0
    reduce = oi[slot, ob.OI_REDUCE] == ob.REDUCE_ONLY
    explicit = oi[slot, ob.OI_SIZED] == 1
    held = pos[k, s]
    if reduce:
        have = -held * side
        if not have > 0.0:
            set_status(B, P, E, slot, ob.CANCELLED, ts, R_POSITION_CLOSED)
            return 0.0
        want = min(of[slot, ob.OF_SIZE] - of[slot, ob.OF_FILLED], have)
    elif not explicit:
        size_dep = depends_on_size(slp)
        p0 = base if size_dep else _fill_price(P, oi, of, slot, base, 0.0, volume)
        eq = equity(B, k)
        power = buying_power(B, P, k)
        kind = int(sp[k, ob.SP_SIZER])
        amount = sp[k, ob.SP_AMOUNT]
        strength = of[slot, ob.OF_STRENGTH]
        atr = of[slot, ob.OF_ATR]
        sl = of[slot, ob.OF_SL]
        traded = gf[ob.GF_TRADED]
        units, why = entry_units(
            kind, amount, strength, atr, sl, eq, power, p0, lot, fp, tiers, liq, traded
        )
        if size_dep and units > 0.0:
            p1 = _fill_price(P, oi, of, slot, base, units, volume)
            u1, _ = entry_units(
                kind, amount, strength, atr, sl, eq, power, p1, lot, fp, tiers, liq, traded
            )
            units = min(units, u1)
        if not units > 0.0:
            of[slot, ob.OF_REQ] = 0.0
            of[slot, ob.OF_SIZE] = 0.0
            refuse(B, P, E, slot, why, ts)
            return 0.0
        of[slot, ob.OF_REQ] = units
        of[slot, ob.OF_SIZE] = units
        oi[slot, ob.OI_SIZED] = 1
        want = units
    else:
        want = of[slot, ob.OF_SIZE] - of[slot, ob.OF_FILLED]
    share = bp[ob.BP_VOLUME_SHARE]
    if not np.isnan(share):
        cap = round_lot(symf[s, ob.SF_VOL_LEFT], lot)
        if want > cap:
            want = cap
        if not want > 0.0:
            return 0.0  # no volume left in this bar: stays working
    price = _fill_price(P, oi, of, slot, base, want, volume)
    if not reduce:
        closing = min(want, max(-held * side, 0.0))
        adding = want - closing
        if adding > 0.0 and (
            bp[ob.BP_MAX_GROSS] < np.inf or bp[ob.BP_MAX_SYMBOL_NOTIONAL] < np.inf
        ):
            room = compliance_room(B, P, s, price)
            if adding > room:
                allowed = round_lot(room, lot) if room > 0.0 else 0.0
                if closing + allowed <= 0.0:
                    refuse(B, P, E, slot, R_COMPLIANCE, ts)
                    return 0.0
                of[slot, ob.OF_SIZE] -= adding - allowed
                oi[slot, ob.OI_REASON] = R_COMPLIANCE_SCALED
                adding = allowed
                want = closing + allowed
                price = _fill_price(P, oi, of, slot, base, want, volume)
        if first:
            total = of[slot, ob.OF_SIZE]
            if abs(held + side * total) > inst[s, IN_MAX_POSITION] * (1.0 + _EPS):
                refuse(B, P, E, slot, R_MAX_POSITION, ts)
                return 0.0
            notional = total * price
            if notional < inst[s, IN_MIN_NOTIONAL] * (1.0 - _EPS):
                refuse(B, P, E, slot, R_MIN_NOTIONAL, ts)
                return 0.0
            if notional > inst[s, IN_MAX_NOTIONAL] * (1.0 + _EPS):
                refuse(B, P, E, slot, R_MAX_NOTIONAL, ts)
                return 0.0
        if explicit and adding > 0.0:
            need = adding * price + fee(fp, tiers, want * price, want, liq, gf[ob.GF_TRADED])
            if need > buying_power(B, P, k) + closing * symf[s, ob.SF_MARK]:
                refuse(B, P, E, slot, R_INSUFFICIENT_CASH, ts)
                return 0.0
    apply_fill(B, P, E, slot, want, price, liq, ts)
    if not np.isnan(share):
        symf[s, ob.SF_VOL_LEFT] -= want
    done = of[slot, ob.OF_FILLED] >= of[slot, ob.OF_SIZE] - _EPS * lot or (
        reduce and pos[k, s] == 0.0
    )
    set_status(B, P, E, slot, ob.FILLED if done else ob.PARTIAL, ts, -1)
    role = oi[slot, ob.OI_ROLE]
    if role == ob.ROLE_SIGNAL and not reduce:
        legs_ts = ts if at_open and bp[ob.BP_STOPS_SAME_BAR] == 1.0 else ts + 1
        if first:
            _place_legs(B, P, E, slot, want, price, ts, legs_ts)
        else:
            _grow_legs(B, P, E, slot, want, price, ts, legs_ts)
    elif role in (ob.ROLE_SL, ob.ROLE_TP, ob.ROLE_TRAIL):
        _after_leg_fill(B, P, E, slot, want, done, ts)
    if pos[k, s] == 0.0:
        cancel_orders(B, P, E, k, s, ob.SEL_REDUCE, R_POSITION_CLOSED, ts, slot)
        if acct[k, ob.AC_LIQUIDATING] != 0.0:
            flat = True
            for x in range(pos.shape[1]):
                if pos[k, x] != 0.0:
                    flat = False
            if flat:
                acct[k, ob.AC_LIQUIDATING] = 0.0
    return want


# --- matching one bar ------------------------------------------------------------------------


@jit_inline
def _touch(oi, of, slot, ts, o, h, lo):
    """(touched, base price, at the open, liquidity) of a resting order on this bar.

    A stop-limit that triggers but cannot fill at its trigger price is marked
    triggered and rests as a limit from the next bar.
    """
    otype = oi[slot, ob.OI_TYPE]
    buy = oi[slot, ob.OI_SIDE] > 0
    lim = of[slot, ob.OF_LIMIT]
    stp = of[slot, ob.OF_STOP]
    if otype == ob.STOP_LIMIT and _NO_TS < oi[slot, ob.OI_TRIGGER_TS] < ts:
        otype = ob.LIMIT  # triggered on an earlier bar: a resting limit now
    if otype == ob.LIMIT:
        if buy:
            return lo <= lim, min(o, lim), o <= lim, MAKER
        return h >= lim, max(o, lim), o >= lim, MAKER
    if otype == ob.STOP:
        if buy:
            return h >= stp, max(o, stp), o >= stp, TAKER
        return lo <= stp, min(o, stp), o <= stp, TAKER
    # stop-limit, not yet triggered (or triggered on this bar)
    if buy:
        if not h >= stp:
            return False, 0.0, False, TAKER
        oi[slot, ob.OI_TRIGGER_TS] = ts
        trigger = max(o, stp)
        return trigger <= lim, trigger, o >= stp, TAKER
    if not lo <= stp:
        return False, 0.0, False, TAKER
    oi[slot, ob.OI_TRIGGER_TS] = ts
    trigger = min(o, stp)
    return trigger >= lim, trigger, o <= stp, TAKER


@jit_inline
def _first_hit(oi, of, a, b, target_first):
    """True if leg ``a`` fills before leg ``b`` when both are touched in one bar."""
    a_stop = oi[a, ob.OI_TYPE] == ob.STOP
    b_stop = oi[b, ob.OI_TYPE] == ob.STOP
    if a_stop != b_stop:
        return a_stop != target_first
    if a_stop:
        # the stop the price meets first: the highest sell stop, the lowest buy stop
        if oi[a, ob.OI_SIDE] < 0:
            return of[a, ob.OF_STOP] > of[b, ob.OF_STOP]
        return of[a, ob.OF_STOP] < of[b, ob.OF_STOP]
    return False


@jit_inline
def match_symbol(B, P, E, s, ts, o, h, lo, volume):
    """Run the working orders of symbol ``s`` through one bar (docs/broker.md, "A bar")."""
    symi, oi = B[3], B[6]
    sweep(B, s)
    if symi[s, ob.SI_HEAD] < 0:  # no orders for this symbol: nothing to match
        return
    target_first = P[2][ob.BP_PRIORITY] == 1.0
    day = ts // DAY_US
    # 1. DAY orders of an earlier UTC day expire before the bar trades
    slot = symi[s, ob.SI_HEAD] if symi[s, ob.SI_KINDS] & ob.K_DAY else -1
    while slot >= 0:
        if (
            is_working(oi[slot, ob.OI_STATUS])
            and oi[slot, ob.OI_TIF] == ob.DAY
            and oi[slot, ob.OI_ACTIVE_TS] <= ts
            and day > oi[slot, ob.OI_CREATED_TS] // DAY_US
        ):
            set_status(B, P, E, slot, ob.EXPIRED, ts, R_EXPIRED_DAY)
        slot = oi[slot, ob.OI_NEXT]
    # 2. market orders at the open, in id order
    slot = symi[s, ob.SI_HEAD] if symi[s, ob.SI_KINDS] & ob.K_MARKET else -1
    while slot >= 0:
        if (
            oi[slot, ob.OI_TYPE] == ob.MARKET
            and is_working(oi[slot, ob.OI_STATUS])
            and oi[slot, ob.OI_ACTIVE_TS] <= ts
        ):
            fill_order(B, P, E, slot, o, True, TAKER, ts, volume)
        slot = oi[slot, ob.OI_NEXT]
    # 3. resting orders where the bar reaches them; legs made by step 2 take part
    slot = symi[s, ob.SI_HEAD]
    while slot >= 0:
        if (
            oi[slot, ob.OI_TYPE] != ob.MARKET
            and is_working(oi[slot, ob.OI_STATUS])
            and oi[slot, ob.OI_ACTIVE_TS] <= ts
            and oi[slot, ob.OI_SEEN_TS] != ts
        ):
            group = oi[slot, ob.OI_OCO]
            if group == 0:
                oi[slot, ob.OI_SEEN_TS] = ts
                touched, base, at_open, liq = _touch(oi, B[7], slot, ts, o, h, lo)
                if touched:
                    fill_order(B, P, E, slot, base, at_open, liq, ts, volume)
            else:
                best = -1
                best_base = 0.0
                best_open = False
                best_liq = TAKER
                leg = slot
                while leg >= 0:
                    if (
                        oi[leg, ob.OI_OCO] == group
                        and is_working(oi[leg, ob.OI_STATUS])
                        and oi[leg, ob.OI_ACTIVE_TS] <= ts
                    ):
                        oi[leg, ob.OI_SEEN_TS] = ts
                        touched, base, at_open, liq = _touch(oi, B[7], leg, ts, o, h, lo)
                        if touched and (best < 0 or _first_hit(oi, B[7], leg, best, target_first)):
                            best = leg
                            best_base = base
                            best_open = at_open
                            best_liq = liq
                    leg = oi[leg, ob.OI_NEXT]
                if best >= 0:
                    fill_order(B, P, E, best, best_base, best_open, best_liq, ts, volume)
        slot = oi[slot, ob.OI_NEXT]


@jit_inline
def close_bar(B, P, s, h, lo, ts):
    """At the bar's close: excursions of the open lots, trailing stops follow the best price."""
    oi, of, lf, li, lht, symi = B[6], B[7], B[9], B[8], B[10], B[3]
    inst = P[6]
    for k in range(lht.shape[0]):
        lot = lht[k, s, 0]
        while lot >= 0:
            lf[lot, ob.LF_HI] = max(lf[lot, ob.LF_HI], h)
            lf[lot, ob.LF_LO] = min(lf[lot, ob.LF_LO], lo)
            lot = li[lot, ob.LI_NEXT]
    tick = inst[s, IN_TICK]
    slot = symi[s, ob.SI_HEAD] if symi[s, ob.SI_KINDS] & ob.K_TRAIL else -1
    while slot >= 0:
        if (
            oi[slot, ob.OI_ROLE] == ob.ROLE_TRAIL
            and is_working(oi[slot, ob.OI_STATUS])
            and oi[slot, ob.OI_ACTIVE_TS] <= ts
        ):
            trail = of[slot, ob.OF_TRAIL]
            if oi[slot, ob.OI_SIDE] < 0:  # protects a long: follows the highest high
                best = max(of[slot, ob.OF_TRAIL_BEST], h)
                stop = round_price(best * (1.0 - trail), tick, -1, PRICE_STOP)
                if stop > of[slot, ob.OF_STOP]:
                    of[slot, ob.OF_STOP] = stop
            else:
                best = min(of[slot, ob.OF_TRAIL_BEST], lo)
                stop = round_price(best * (1.0 + trail), tick, 1, PRICE_STOP)
                if stop < of[slot, ob.OF_STOP]:
                    of[slot, ob.OF_STOP] = stop
            of[slot, ob.OF_TRAIL_BEST] = best
        slot = oi[slot, ob.OI_NEXT]
