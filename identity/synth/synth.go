// Package synth generates synthetic people records with ground truth for
// benchmarking identity resolution: realistic noise (typos, nicknames,
// swapped names, case and format variants of emails, phones and dates,
// missing values) and hard negatives (households sharing a surname and an
// address, twins, juniors and seniors, namesakes in one city).
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Config shapes a generated data set.
type Config struct {
	// Records is the number of rows to produce.
	Records int
	// Seed makes the output reproducible.
	Seed uint64
	// MeanRecords is the mean number of records per person (≥ 1).
	MeanRecords float64
	// HardNegatives is the share of people created as a household member,
	// twin, junior/senior or namesake of another person.
	HardNegatives float64
	// Missing is the chance that an attribute of a record is empty.
	Missing float64
	// Typo is the chance that a value in a duplicate record has a typo.
	Typo float64
}

// DefaultConfig produces about 2.5 records per person with a quarter of the
// people hard negatives.
func DefaultConfig() Config {
	return Config{Records: 10000, Seed: 1, MeanRecords: 2.5, HardNegatives: 0.25, Missing: 0.08, Typo: 0.15}
}

// Validate checks the ranges.
func (c Config) Validate() error {
	switch {
	case c.Records < 1:
		return fmt.Errorf("records %d: want at least 1", c.Records)
	case c.MeanRecords < 1:
		return fmt.Errorf("mean records per person %g: want at least 1", c.MeanRecords)
	case c.HardNegatives < 0 || c.HardNegatives > 1, c.Missing < 0 || c.Missing > 1, c.Typo < 0 || c.Typo > 1:
		return fmt.Errorf("hard negatives, missing and typo are probabilities: want 0 to 1")
	}
	return nil
}

// Header is the column order of Record.Fields.
var Header = []string{"record_id", "first_name", "last_name", "dob", "email", "phone", "street", "city", "postcode", "person_id"}

// Record is one generated row; PersonID is the truth.
type Record struct {
	ID, FirstName, LastName, DOB, Email, Phone, Street, City, Postcode, PersonID string
}

// Fields returns the row in Header order.
func (r Record) Fields() []string {
	return []string{r.ID, r.FirstName, r.LastName, r.DOB, r.Email, r.Phone, r.Street, r.City, r.Postcode, r.PersonID}
}

type person struct {
	id                int
	first, last       string
	dob               time.Time
	emailUser, domain string
	phone             string // 10 digits
	streetNo          int
	street, city, zip string
}

// Generator produces records one at a time.
type Generator struct {
	cfg     Config
	rng     *rand.Rand
	people  int
	emitted int
	queue   []Record
	recent  []person // candidates for hard negatives
	surname *zipf
	firstM  *zipf
	firstF  *zipf
	cityZ   *zipf
	streets *zipf
}

// New returns a generator.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	return &Generator{
		cfg: cfg, rng: rng,
		surname: newZipf(rng, len(surnames)+20000, 0.8),
		firstM:  newZipf(rng, len(maleNames), 0.7),
		firstF:  newZipf(rng, len(femaleNames), 0.7),
		cityZ:   newZipf(rng, len(cities), 0.8),
		streets: newZipf(rng, len(streetNames)*len(streetKinds), 0.6),
	}, nil
}

// Next returns the next record, false after cfg.Records.
func (g *Generator) Next() (Record, bool) {
	if g.emitted >= g.cfg.Records {
		return Record{}, false
	}
	for len(g.queue) == 0 {
		g.queue = g.records(g.newPerson())
	}
	r := g.queue[0]
	g.queue = g.queue[1:]
	g.emitted++
	r.ID = fmt.Sprintf("r%08d", g.emitted)
	return r, true
}

// zipf draws indices 0..n-1 with a power-law popularity.
type zipf struct {
	cdf []float64
	rng *rand.Rand
}

func newZipf(rng *rand.Rand, n int, s float64) *zipf {
	z := &zipf{cdf: make([]float64, n), rng: rng}
	total := 0.0
	for i := range n {
		total += 1 / math.Pow(float64(i+1), s)
		z.cdf[i] = total
	}
	for i := range z.cdf {
		z.cdf[i] /= total
	}
	return z
}

func (z *zipf) draw() int {
	x := z.rng.Float64()
	lo, hi := 0, len(z.cdf)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if z.cdf[mid] < x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

func (g *Generator) surnameAt(i int) string {
	if i < len(surnames) {
		return surnames[i]
	}
	// A long tail of plausible surnames built from syllables.
	r := rand.New(rand.NewPCG(uint64(i), 7))
	n := 2 + r.IntN(2)
	var b strings.Builder
	for range n {
		b.WriteString(syllables[r.IntN(len(syllables))])
	}
	s := b.String()
	return strings.ToUpper(s[:1]) + s[1:]
}

func (g *Generator) firstName(female bool) string {
	if female {
		return femaleNames[g.firstF.draw()]
	}
	return maleNames[g.firstM.draw()]
}

func (g *Generator) newPerson() person {
	g.people++
	rng := g.rng
	// Hard negatives: derive from a recent person.
	if len(g.recent) > 0 && rng.Float64() < g.cfg.HardNegatives {
		base := g.recent[rng.IntN(len(g.recent))]
		p := base
		p.id = g.people
		p.emailUser, p.domain, p.phone = "", domains[rng.IntN(len(domains))], g.phone()
		switch rng.IntN(4) {
		case 0: // household member: same surname and address, another first name and dob
			p.first = g.firstName(rng.IntN(2) == 0)
			p.dob = g.dob()
			if rng.IntN(2) == 0 {
				p.phone = base.phone // a shared landline
			}
		case 1: // twin: same surname, dob and address
			p.first = g.firstName(rng.IntN(2) == 0)
		case 2: // junior / senior: same names and address, a generation apart
			p.dob = base.dob.AddDate(-(22 + rng.IntN(12)), rng.IntN(12), rng.IntN(28))
		default: // namesake in the same city: another address and dob
			p.dob = g.dob()
			p.streetNo, p.street, p.zip = g.address(p.city)
		}
		if p.first == base.first && p.dob.Equal(base.dob) {
			p.first = g.firstName(rng.IntN(2) == 0)
		}
		p.emailUser = g.emailUser(p)
		g.remember(p)
		return p
	}
	female := rng.IntN(2) == 0
	p := person{id: g.people, first: g.firstName(female), last: g.surnameAt(g.surname.draw()), dob: g.dob(),
		domain: domains[rng.IntN(len(domains))], phone: g.phone()}
	p.city = cities[g.cityZ.draw()]
	p.streetNo, p.street, p.zip = g.address(p.city)
	p.emailUser = g.emailUser(p)
	g.remember(p)
	return p
}

func (g *Generator) remember(p person) {
	if len(g.recent) < 1000 {
		g.recent = append(g.recent, p)
		return
	}
	g.recent[g.rng.IntN(len(g.recent))] = p
}

func (g *Generator) dob() time.Time {
	return time.Date(1935, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, g.rng.IntN(70*365))
}

func (g *Generator) phone() string {
	return fmt.Sprintf("%d%02d%d%06d", 2+g.rng.IntN(8), g.rng.IntN(100), 2+g.rng.IntN(8), g.rng.IntN(1000000))
}

func (g *Generator) address(city string) (int, string, string) {
	i := g.streets.draw()
	street := streetNames[i%len(streetNames)] + " " + streetKinds[i/len(streetNames)]
	h := 0
	for _, c := range city {
		h = h*31 + int(c)
	}
	zip := fmt.Sprintf("%05d", (h%900+100)*100+g.rng.IntN(100))
	return 1 + g.rng.IntN(400), street, zip
}

func (g *Generator) emailUser(p person) string {
	f, l := strings.ToLower(p.first), strings.ToLower(strings.ReplaceAll(p.last, " ", ""))
	switch g.rng.IntN(5) {
	case 0:
		return f + "." + l
	case 1:
		return f[:1] + l + fmt.Sprint(g.rng.IntN(100))
	case 2:
		return f + l[:1] + fmt.Sprint(p.dob.Year()%100)
	case 3:
		return l + "." + f
	default:
		return f + "_" + l + fmt.Sprint(g.rng.IntN(1000))
	}
}

// records renders a person as 1..k noisy records.
func (g *Generator) records(p person) []Record {
	rng := g.rng
	// Geometric number of records with the configured mean.
	n := 1
	for rng.Float64() < 1-1/g.cfg.MeanRecords && n < 30 {
		n++
	}
	out := make([]Record, 0, n)
	for i := range n {
		dup := i > 0
		r := Record{PersonID: fmt.Sprintf("p%08d", p.id)}
		r.FirstName, r.LastName = p.first, p.last
		if dup && rng.Float64() < 0.15 {
			if nick, ok := nicknames[strings.ToLower(p.first)]; ok {
				r.FirstName = nick[rng.IntN(len(nick))]
			}
		}
		if dup && rng.Float64() < 0.03 {
			r.FirstName, r.LastName = r.LastName, r.FirstName
		}
		r.FirstName = g.noisy(r.FirstName, dup)
		r.LastName = g.noisy(r.LastName, dup)
		r.FirstName, r.LastName = g.casing(r.FirstName), g.casing(r.LastName)
		r.DOB = g.date(p.dob, dup)
		r.Email = g.email(p, dup)
		r.Phone = g.phoneFormat(p.phone, dup)
		r.Street = g.noisy(fmt.Sprintf("%d %s", p.streetNo, p.street), dup)
		r.City = g.noisy(p.city, dup)
		r.Postcode = p.zip
		if dup && rng.Float64() < 0.1 {
			// Moved house: a new address in the same or another city.
			r.City = cities[g.cityZ.draw()]
			no, st, zip := g.address(r.City)
			r.Street, r.Postcode = fmt.Sprintf("%d %s", no, st), zip
		}
		for _, f := range []*string{&r.FirstName, &r.LastName, &r.DOB, &r.Email, &r.Phone, &r.Street, &r.City, &r.Postcode} {
			if rng.Float64() < g.cfg.Missing {
				*f = ""
			}
		}
		out = append(out, r)
	}
	return out
}

func (g *Generator) casing(s string) string {
	switch g.rng.IntN(10) {
	case 0:
		return strings.ToUpper(s)
	case 1:
		return strings.ToLower(s)
	default:
		return s
	}
}

// noisy applies at most one typo to duplicates.
func (g *Generator) noisy(s string, dup bool) string {
	if !dup || len(s) < 3 || g.rng.Float64() >= g.cfg.Typo {
		return s
	}
	b := []byte(s)
	i := 1 + g.rng.IntN(len(b)-2)
	switch g.rng.IntN(4) {
	case 0: // substitution
		b[i] = "abcdefghijklmnopqrstuvwxyz"[g.rng.IntN(26)]
	case 1: // deletion
		b = append(b[:i], b[i+1:]...)
	case 2: // insertion
		b = append(b[:i], append([]byte{"aeiourstln"[g.rng.IntN(10)]}, b[i:]...)...)
	default: // transposition
		b[i], b[i+1] = b[i+1], b[i]
	}
	return string(b)
}

var dateFormats = []string{"2006-01-02", "20060102", "Jan 2, 2006", "02 Jan 2006", "2006/01/02"}

func (g *Generator) date(d time.Time, dup bool) string {
	if dup && g.rng.Float64() < g.cfg.Typo/2 {
		switch g.rng.IntN(3) {
		case 0:
			d = d.AddDate(0, 0, 1+g.rng.IntN(3))
		case 1:
			d = d.AddDate(0, 1, 0)
		default:
			if d.Day() <= 12 { // day and month swapped
				d = time.Date(d.Year(), time.Month(d.Day()), int(d.Month()), 0, 0, 0, 0, time.UTC)
			}
		}
	}
	f := dateFormats[0]
	if dup {
		f = dateFormats[g.rng.IntN(len(dateFormats))]
	}
	return d.Format(f)
}

func (g *Generator) email(p person, dup bool) string {
	e := p.emailUser + "@" + p.domain
	if !dup {
		return e
	}
	switch x := g.rng.Float64(); {
	case x < 0.15:
		return strings.ToUpper(e[:1]) + e[1:]
	case x < 0.20:
		return " " + strings.ToUpper(e)
	case x < 0.30: // another address of the same person
		return p.emailUser + "@" + domains[g.rng.IntN(len(domains))]
	case x < 0.30+g.cfg.Typo/3:
		return g.noisy(p.emailUser, true) + "@" + p.domain
	}
	return e
}

func (g *Generator) phoneFormat(d string, dup bool) string {
	if dup && g.rng.Float64() < g.cfg.Typo/3 {
		b := []byte(d)
		i := 3 + g.rng.IntN(7)
		b[i] = byte('0' + g.rng.IntN(10))
		d = string(b)
	}
	f := 0
	if dup {
		f = g.rng.IntN(5)
	}
	switch f {
	case 1:
		return fmt.Sprintf("(%s) %s-%s", d[:3], d[3:6], d[6:])
	case 2:
		return fmt.Sprintf("%s.%s.%s", d[:3], d[3:6], d[6:])
	case 3:
		return "+1 " + d[:3] + " " + d[3:6] + " " + d[6:]
	case 4:
		return "1-" + d[:3] + "-" + d[3:6] + "-" + d[6:]
	}
	return d[:3] + "-" + d[3:6] + "-" + d[6:]
}
