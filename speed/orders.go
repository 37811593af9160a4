package speed

import (
	"math/bits"
	"slices"
	"strings"
)

// A profile remembers its orders by order_id (README, "revenue_total"),
// so that an order counts once however many Order Completed events carry
// it, and a refund is read in its order's measure. What an order counts
// is a function of the set of its events, never of their order: the
// completion counted is the earliest, refunds are sums. An order event
// changes the profile's totals by the change of what its order counts;
// curate (sql/curate_events.sql) computes the same and hands the orders
// over in curated/profiles.orders.

// OrderEvent is what an Order Completed or Order Refunded event with an
// order_id tells of its order; amounts in millionths.
type OrderEvent struct {
	ID     string // properties.order_id, a string or a number as spelt
	Refund bool
	// Amount is read as for an event alone: revenue, else total, else
	// value, else products; HasAmount when one of them was there.
	Amount    int64
	HasAmount bool
	Total     int64 // properties.total, when HasTotal
	HasTotal  bool
}

// order is a profile's memory of one order_id.
type order struct {
	id string
	// The completion counted: the earliest Order Completed by (event
	// time, Kafka position), its amount and total.
	ts, seq       int64
	amount, total int64
	// Refunds, summed: the totals of those that carry one and their
	// amounts read alone, and the amounts of the others.
	refundTotal, refundTotalAmount, refundOther int64
	flags                                       orderFlags
}

type orderFlags uint8

const (
	orderCompleted  orderFlags = 1 << iota
	orderHasTotal              // the counted completion's total
	orderRefundFull            // a refund without an amount: all of it
)

// findOrder returns the order of id in the sorted list, adding an empty
// one (id copied: it may point into a Kafka message).
func findOrder(list *[]order, id string) *order {
	i, ok := slices.BinarySearchFunc(*list, id, func(o order, id string) int { return strings.Compare(o.id, id) })
	if !ok {
		*list = slices.Insert(*list, i, order{id: strings.Clone(id)})
	}
	return &(*list)[i]
}

// orders returns p's orders, sorted by id.
func (p *Profile) orders() []order {
	if p.Extra == nil || p.Extra.more == nil {
		return nil
	}
	return p.Extra.more.orders
}

// applyOrder adds an order event of time ts and Kafka position seq.
func (p *Profile) applyOrder(e *OrderEvent, ts, seq int64) {
	o := findOrder(&p.more().orders, e.ID)
	rev, n := o.counts()
	o.add(e, ts, seq)
	p.moveTotals(o, rev, n)
}

// moveTotals moves p's totals by what o counts now less what it counted
// (rev, n).
func (p *Profile) moveTotals(o *order, rev, n int64) {
	r, k := o.counts()
	p.RevenueMicros += r - rev
	p.OrdersTotal += k - n
}

// mergeOrders folds q's orders into p's once q's totals were added to
// p's: an order both hold is counted once more, as the two combined.
func (p *Profile) mergeOrders(q *Profile) {
	qs := q.orders()
	if len(qs) == 0 {
		return
	}
	m := p.more()
	m.orders = slices.Grow(m.orders, len(qs))
	for i := range qs {
		qo := &qs[i]
		o := findOrder(&m.orders, qo.id)
		rev, n := o.counts()
		qrev, qn := qo.counts()
		o.merge(qo)
		p.moveTotals(o, rev+qrev, n+qn)
	}
}

// add records one event of the order.
func (o *order) add(e *OrderEvent, ts, seq int64) {
	if !e.Refund {
		c := order{ts: ts, seq: seq, amount: e.Amount, flags: orderCompleted}
		if e.HasTotal {
			c.total, c.flags = e.Total, c.flags|orderHasTotal
		}
		o.complete(&c)
		return
	}
	switch {
	case !e.HasAmount:
		o.flags |= orderRefundFull
	case e.HasTotal:
		o.refundTotal += e.Total
		o.refundTotalAmount += e.Amount
	default:
		o.refundOther += e.Amount
	}
}

// complete takes c's completion when it is the earlier one.
func (o *order) complete(c *order) {
	if c.flags&orderCompleted == 0 || o.flags&orderCompleted != 0 && !newer(o.ts, o.seq, c.ts, c.seq) {
		return
	}
	o.ts, o.seq, o.amount, o.total = c.ts, c.seq, c.amount, c.total
	o.flags = o.flags&orderRefundFull | c.flags&(orderCompleted|orderHasTotal)
}

// merge folds another memory of the same order into o.
func (o *order) merge(q *order) {
	o.complete(q)
	o.refundTotal += q.refundTotal
	o.refundTotalAmount += q.refundTotalAmount
	o.refundOther += q.refundOther
	o.flags |= q.flags & orderRefundFull
}

// counts is what the order adds to revenue_total (millionths) and to
// orders_total: a completed order its amount less its refunds, and 1;
// refunds of an order not seen what they carry, as events alone.
func (o *order) counts() (revenue, orders int64) {
	if o.flags&orderCompleted == 0 {
		return -(o.refundTotalAmount + o.refundOther), 0
	}
	return o.amount - o.refunded(), 1
}

// refunded is what the refunds take off a completed order, between 0
// and its amount: all of it after a refund without an amount; else the
// refunds that carry a total in the order's measure (amount × refunded
// total / order total, rounded down) when the order has a total above
// 0, else their amounts; and the other refunds' amounts.
func (o *order) refunded() int64 {
	if o.amount <= 0 {
		return 0
	}
	if o.flags&orderRefundFull != 0 {
		return o.amount
	}
	n := o.refundTotalAmount
	if o.flags&orderHasTotal != 0 && o.total > 0 {
		n = share(o.amount, min(max(o.refundTotal, 0), o.total), o.total)
	}
	return min(max(n+o.refundOther, 0), o.amount)
}

// share is a × part / whole rounded down, for 0 ≤ part ≤ whole, 0 < a,
// 0 < whole, without overflow (the result is at most a).
func share(a, part, whole int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(part))
	q, _ := bits.Div64(hi, lo, uint64(whole))
	return int64(q)
}
