// Package demo generates the small online shop that `cdpctl demo` runs
// through Tributary: web sessions for the collector (anonymous browsing
// later identified, orders) and a CRM export with the faults real exports
// have (typos, case and format variants, duplicates from a legacy system,
// a few broken rows).
package demo

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"
)

// Config sizes the business.
type Config struct {
	Customers int
	Seed      uint64
	Now       time.Time
	// EventsPerCustomer, when above the shop's natural ~8.6, tops each
	// customer's history up with anonymous product views until the running
	// total reaches EventsPerCustomer × customers so far: benchmarks ask
	// for an exact volume (10 per customer gives 10M events for 1M
	// customers). 0 leaves the shop as it is (and its random sequence).
	EventsPerCustomer float64
}

// DefaultConfig is about 5,000 customers.
func DefaultConfig() Config {
	return Config{Customers: 5000, Seed: 42, Now: time.Now().UTC()}
}

// Customer is one real person of the shop.
type Customer struct {
	N          int
	CustomerID string // CRM id
	First      string
	Last       string
	Email      string
	Phone      string // E.164
	City       string
	DOB        time.Time
	UserID     string   // web login id; "" when the person never signed up
	AnonIDs    []string // browser ids
	Orders     int
	InCRM      bool // in the CRM export (90% are)
}

// Business is everything the demo sends and drops.
type Business struct {
	Customers []Customer
	// Batches are /v1/batch bodies' event lists, in sending order.
	Batches [][]map[string]any
	Events  int
	// CRM is the CSV export; CRMRows counts its data rows, CRMDuplicates the
	// legacy duplicates and CRMBroken the rows ingest must quarantine.
	CRM                                 []byte
	CRMRows, CRMDuplicates, CRMBroken   int
	Registered, AnonymousOnly, Ordering int
	// NameOnly counts the customers who signed up on the web but whose CRM
	// row has no email: the login and the row share nothing but a name,
	// which namesakes share too (50 × 50 names), so they stay two profiles.
	NameOnly int
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances",
		"Edsger", "Radia", "Donald", "Shafi", "Leslie", "Sophie", "Tim", "Hedy", "John", "Mary", "James", "Patricia", "Robert",
		"Jennifer", "Michael", "Linda", "William", "Elizabeth", "David", "Susan", "Richard", "Jessica", "Joseph", "Sarah",
		"Thomas", "Karen", "Charles", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony", "Sandra", "Mark", "Ashley",
		"José", "Zoë", "Renée", "Björn"}
	lastNames = []string{"Lovelace", "Hopper", "Turing", "Johnson", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
		"Allen", "Dijkstra", "Perlman", "Knuth", "Goldwasser", "Lamport", "Wilson", "Berners-Lee", "Lamarr", "Smith", "Brown",
		"Miller", "Davis", "Garcia", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Anderson", "Thomas", "Taylor",
		"Moore", "Jackson", "Martin", "Lee", "Perez", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
		"Walker", "Young", "King", "Wright", "Scott", "Müller", "O'Brien"}
	cities   = []string{"Springfield", "Riverton", "Fairview", "Madison", "Georgetown", "Salem", "Franklin", "Clinton", "Greenville", "Bristol"}
	domains  = []string{"example.com", "mail.example.org", "shop.example.net", "inbox.example.com"}
	products = []struct {
		SKU   string
		Price float64
	}{{"tent-2p", 189}, {"sleeping-bag", 79.5}, {"headlamp", 24.99}, {"stove", 59}, {"backpack-40l", 129}, {"trail-shoes", 110}}
)

// Generate builds the business deterministically from cfg.Seed, keeping
// every event in memory as /v1/batch bodies of 200 events.
func Generate(cfg Config) *Business {
	var batch []map[string]any
	var batches [][]map[string]any
	b := Stream(cfg, func(e map[string]any) {
		batch = append(batch, e)
		if len(batch) == 200 {
			batches = append(batches, batch)
			batch = nil
		}
	}, nil)
	if len(batch) > 0 {
		batches = append(batches, batch)
	}
	b.Batches = batches
	return b
}

// Stream builds the business like Generate but hands each event to emit
// as it is made and writes the CRM export to crm (when not nil) instead of
// keeping them: for benchmarks with millions of events.
func Stream(cfg Config, emit func(map[string]any), crm io.Writer) *Business {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	b := &Business{}
	for n := range cfg.Customers {
		c := Customer{
			N:          n,
			CustomerID: fmt.Sprintf("C%06d", 100000+n),
			First:      firstNames[rng.IntN(len(firstNames))],
			Last:       lastNames[rng.IntN(len(lastNames))],
			City:       cities[rng.IntN(len(cities))],
			DOB:        time.Date(1950+rng.IntN(55), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC),
			Phone:      fmt.Sprintf("+1%03d555%04d", 201+(n/10000)%700, n%10000), // unique per customer up to 7M
		}
		local := strings.ToLower(asciiFold(c.First) + "." + asciiFold(c.Last))
		c.Email = fmt.Sprintf("%s%d@%s", strings.NewReplacer("'", "", "-", "").Replace(local), n, domains[rng.IntN(len(domains))])
		c.AnonIDs = []string{fmt.Sprintf("anon-%08x", rng.Uint32())}
		if rng.IntN(4) == 0 { // a second device
			c.AnonIDs = append(c.AnonIDs, fmt.Sprintf("anon-%08x", rng.Uint32()))
		}
		if rng.IntN(100) < 80 {
			c.UserID = fmt.Sprintf("web-%d", 5000+n)
			b.Registered++
		} else {
			b.AnonymousOnly++
		}
		b.Customers = append(b.Customers, c)
	}
	b.webEvents(rng, cfg.Now, cfg.EventsPerCustomer, emit)
	var buf bytes.Buffer
	out := crm
	if out == nil {
		out = &buf
	}
	b.crmExport(rng, out)
	if crm == nil {
		b.CRM = buf.Bytes()
	}
	return b
}

func asciiFold(s string) string {
	return strings.NewReplacer("é", "e", "ë", "e", "ö", "o", "ü", "u", "Ö", "O", "Ü", "U").Replace(s)
}

// webEvents writes each customer's browsing history over the last 60 days.
func (b *Business) webEvents(rng *rand.Rand, now time.Time, perCustomer float64, emit func(map[string]any)) {
	add := func(e map[string]any) {
		b.Events++
		emit(e)
	}
	for i := range b.Customers {
		c := &b.Customers[i]
		t := now.Add(-time.Duration(1+rng.IntN(60*24)) * time.Hour)
		step := func() string {
			t = t.Add(time.Duration(1+rng.IntN(20)) * time.Minute)
			return t.Format(time.RFC3339)
		}
		anon := c.AnonIDs[0]
		topUp := func() {
			for float64(b.Events) < float64(i+1)*perCustomer {
				p := products[rng.IntN(len(products))]
				add(map[string]any{"type": "track", "anonymousId": anon, "event": "Product Viewed",
					"properties": map[string]any{"sku": p.SKU, "price": p.Price}, "timestamp": step()})
			}
		}
		for range 1 + rng.IntN(4) {
			add(map[string]any{"type": "page", "anonymousId": anon, "name": "Home", "properties": map[string]any{"path": "/"}, "timestamp": step()})
			p := products[rng.IntN(len(products))]
			add(map[string]any{"type": "track", "anonymousId": anon, "event": "Product Viewed",
				"properties": map[string]any{"sku": p.SKU, "price": p.Price}, "timestamp": step()})
		}
		if c.UserID == "" {
			topUp()
			continue
		}
		email := c.Email
		if rng.IntN(5) == 0 {
			email = strings.ToUpper(email[:1]) + email[1:] + " " // sloppy case and spaces, normalized at ingest
		}
		add(map[string]any{"type": "identify", "userId": c.UserID, "anonymousId": anon, "timestamp": step(),
			"traits": map[string]any{"email": email, "first_name": c.First, "last_name": c.Last}})
		if len(c.AnonIDs) > 1 { // the second device logs in later
			add(map[string]any{"type": "page", "anonymousId": c.AnonIDs[1], "name": "Login", "timestamp": step()})
			add(map[string]any{"type": "identify", "userId": c.UserID, "anonymousId": c.AnonIDs[1], "timestamp": step()})
		}
		c.Orders = rng.IntN(4)
		if c.Orders > 0 {
			b.Ordering++
		}
		for o := range c.Orders {
			p := products[rng.IntN(len(products))]
			add(map[string]any{"type": "track", "userId": c.UserID, "event": "Product Added", "properties": map[string]any{"sku": p.SKU, "price": p.Price}, "timestamp": step()})
			add(map[string]any{"type": "track", "userId": c.UserID, "event": "Order Completed", "timestamp": step(),
				"properties": map[string]any{"order_id": fmt.Sprintf("o-%d-%d", c.N, o), "revenue": p.Price, "currency": "USD",
					"products": []map[string]any{{"sku": p.SKU, "price": p.Price, "quantity": 1}}}})
		}
		topUp()
	}
}

// crmExport writes the CRM's customer export: 90% of customers, with
// real-world faults.
func (b *Business) crmExport(rng *rand.Rand, out io.Writer) {
	io.WriteString(out, "\ufeff") // Excel's BOM
	w := csv.NewWriter(out)
	w.UseCRLF = true
	w.Write([]string{"Customer ID", "First Name", "Last Name", "E-mail", "Phone", "DOB", "City", "Loyalty Tier"})
	tiers := []string{"bronze", "silver", "gold"}
	for i := range b.Customers {
		c := &b.Customers[i]
		if rng.IntN(10) == 0 {
			continue
		}
		c.InCRM = true
		email := c.Email
		switch rng.IntN(20) {
		case 0:
			email = strings.ToUpper(email)
		case 1:
			email = ""
			if c.UserID != "" {
				b.NameOnly++
			}
		}
		w.Write([]string{c.CustomerID, c.First, c.Last, email, phoneFormat(rng, c.Phone), dobFormat(rng, c.DOB), c.City, tiers[rng.IntN(3)]})
		b.CRMRows++
		if rng.IntN(25) == 0 { // the legacy system's copy: new id, typo, no email
			w.Write([]string{fmt.Sprintf("L%06d", c.N), typo(rng, c.First), c.Last, "", phoneFormat(rng, c.Phone), dobFormat(rng, c.DOB), c.City, ""})
			b.CRMRows++
			b.CRMDuplicates++
		}
	}
	// Rows a careful ingest must quarantine: no customer id, a bad date.
	w.Write([]string{"", "Nobody", "Noid", "nobody@example.com", "", "", "Nowhere", ""})
	w.Write([]string{"C999998", "Bad", "Date", "bad.date@example.com", "", "31/31/1990", "Salem", ""})
	b.CRMRows += 2
	b.CRMBroken = 2
	w.Flush()
}

func phoneFormat(rng *rand.Rand, e164 string) string {
	d := strings.TrimPrefix(e164, "+1")
	switch rng.IntN(4) {
	case 0:
		return fmt.Sprintf("(%s) %s-%s", d[:3], d[3:6], d[6:])
	case 1:
		return fmt.Sprintf("%s.%s.%s", d[:3], d[3:6], d[6:])
	case 2:
		return "+1 " + d[:3] + " " + d[3:6] + " " + d[6:]
	}
	return d
}

func dobFormat(rng *rand.Rand, t time.Time) string {
	if rng.IntN(2) == 0 {
		return t.Format("2006-01-02")
	}
	return t.Format("01/02/2006")
}

func typo(rng *rand.Rand, s string) string {
	r := []rune(s)
	if len(r) < 3 {
		return s
	}
	i := 1 + rng.IntN(len(r)-2)
	r[i], r[i+1] = r[i+1], r[i]
	return string(r)
}

// SourceDefinition is the YAML that registers the CRM export as a source
// reading from dropDir.
func SourceDefinition(dropDir string) string {
	return fmt.Sprintf(`name: crm_customers
workspace: default
location: file://%s
format: {type: csv, header: true, delimiter: ",", encoding: utf-8}
kind: profiles
fields:
  customer_id: {column: "Customer ID", identifier: customer_id, required: true}
  first_name: {column: "First Name", transforms: [trim]}
  last_name: {column: "Last Name", transforms: [trim]}
  email: {column: "E-mail", transforms: [email_normalize], identifier: email}
  phone: {column: "Phone", transforms: ["phone_e164:US"], identifier: phone}
  birth_date: {column: "DOB", transforms: ["parse_date:2006-01-02|01/02/2006"]}
  city: {column: "City", transforms: [trim]}
  loyalty_tier: {column: "Loyalty Tier", transforms: [trim, lower]}
`, dropDir)
}
