package pii

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/filter/internal/benchdata"
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

func TestFind(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		// e-mail
		{"Mail jane.doe+news@example.co.uk today.", "Mail <EMAIL> today."},
		{"<a href=\"mailto:bob@mail.example.org\">", "<a href=\"mailto:<EMAIL>\">"},
		{"at end: x_y@dept.school.edu.", "at end: <EMAIL>."},
		{"logo@2x.png and pkg@1.2.3 and @handle and a@b", "logo@2x.png and pkg@1.2.3 and @handle and a@b"},
		// IP
		{"server 8.8.4.4 and dns 1.1.1.1:53", "server <IP> and dns <IP>:53"},
		{"TouchWare Desktop 2.9.0.5 and 1.2.3.4 but 81.2.3.4", "TouchWare Desktop 2.9.0.5 and 1.2.3.4 but <IP>"},
		{"private 192.168.0.1 10.1.2.3 127.0.0.1 172.16.5.4 100.64.0.1 203.0.113.9", "private 192.168.0.1 10.1.2.3 127.0.0.1 172.16.5.4 100.64.0.1 203.0.113.9"},
		{"version 2.10.4.1, v1.2.3.4, 1.2.3.4.5 and 01.02.03.04", "version 2.10.4.1, v1.2.3.4, 1.2.3.4.5 and 01.02.03.04"},
		{"ipv6 2606:4700:4700::1111 and [2a00:1450:4001:81b::200e]:443", "ipv6 <IP> and [<IP>]:443"},
		{"doc 2001:db8::1 link fe80::1 loop ::1 at 12:30:45 mac 00:1A:2B:3C:4D:5E", "doc 2001:db8::1 link fe80::1 loop ::1 at 12:30:45 mac 00:1A:2B:3C:4D:5E"},
		// phones
		{"Call +1 415 555 2671 or (415) 555-2671 or 415.555.2671.", "Call <PHONE> or <PHONE> or <PHONE>."},
		{"UK +44 20 7946 0958, DE +49 (0)30 1234567, FR +33 1 23 45 67 89", "UK <PHONE>, DE <PHONE>, FR <PHONE>"},
		{"national 020 7946 0958 and 0044 20 7946 0958 and +14155552671", "national <PHONE> and <PHONE> and <PHONE>"},
		{"dates 2021-03-04, 04.03.2021, 03/04/2021, years 1999-2004, zip 94105-1234", "dates 2021-03-04, 04.03.2021, 03/04/2021, years 1999-2004, zip 94105-1234"},
		{"amounts $1,234,567.89 and 1 234 567 and €12.50; ISBN 978-3-16-148410-0, ISBN 0-306-40615-2", "amounts $1,234,567.89 and 1 234 567 and €12.50; ISBN 978-3-16-148410-0, ISBN 0-306-40615-2"},
		{"bare 4155552671 and 123-45-6789", "bare 4155552671 and 123-45-6789"},
		{"call +1 415 555 2671 4111111111111111 now", "call <PHONE> <CARD> now"},
		// cards
		{"visa 4111 1111 1111 1111, mc 5500-0000-0000-0004, amex 378282246310005", "visa <CARD>, mc <CARD>, amex <CARD>"},
		{"amex 3782 822463 10005 and discover 6011111111111117", "amex <CARD> and discover <CARD>"},
		{"luhn fails 4111 1111 1111 1112 and 4111111111111112", "luhn fails 4111 1111 1111 1112 and 4111111111111112"},
		{"not an issuer 1234 5678 9012 3452", "not an issuer 1234 5678 9012 3452"},
		{"pi 3.14159265358979323846", "pi 3.14159265358979323846"},
	}
	d := NewDetector()
	for _, c := range cases {
		got, _ := Redact(c.in, d.Find(nil, c.in))
		if got != c.want {
			t.Errorf("Redact(%q)\n  got %q\n want %q", c.in, got, c.want)
		}
	}
}

func TestKinds(t *testing.T) {
	text := "x@example.com, 8.8.8.8, +1 415 555 2671, 4111111111111111"
	d := NewDetector(Email, Card)
	got, counts := Redact(text, d.Find(nil, text))
	if got != "<EMAIL>, 8.8.8.8, +1 415 555 2671, <CARD>" || counts != [numKinds]int{1, 0, 0, 1} {
		t.Errorf("%q %v", got, counts)
	}
}

func TestProcess(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rec := pipelinetest.Texts(alloc, "nothing here", "mail me: a@example.com or b@example.com, call +44 20 7946 0958")
	defer rec.Release()
	env := pipelines.TestEnv(alloc, "")

	p, _ := pipelines.NewParams(&Spec, nil)
	st, err := New(p, env)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Process(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Text.(*array.String).Value(1); got != "mail me: <EMAIL> or <EMAIL>, call <PHONE>" {
		t.Errorf("text %q", got)
	}
	res.Text.Release()
	if res.Changes[0] != "" || res.Changes[1] != "email:2 phone:1" || res.Stats["email"] != 2 || res.Stats["phone"] != 1 {
		t.Errorf("changes %q stats %v", res.Changes, res.Stats)
	}

	p, _ = pipelines.NewParams(&Spec, map[string]any{"action": "drop", "kinds": []any{"phone"}})
	st, _ = New(p, env)
	res, err = st.Process(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != nil || fmt.Sprint(res.Drop) != fmt.Sprint([]string{"", "pii:phone"}) {
		t.Errorf("drop: %q", res.Drop)
	}
	if _, err := pipelines.NewParams(&Spec, map[string]any{"action": "mask"}); err == nil {
		t.Error("bad action accepted")
	}
}

func FuzzFind(f *testing.F) {
	for _, s := range []string{"a@b.com", "+1 (415) 555-2671", "8.8.8.8", "2606:4700::1", "4111 1111 1111 1111", "@@..::((++", "1.2.3.4.5.6"} {
		f.Add(s)
	}
	d := NewDetector()
	f.Fuzz(func(t *testing.T, s string) {
		prev := 0
		for _, m := range d.Find(nil, s) {
			if m.Start < prev || m.End <= m.Start || m.End > len(s) {
				t.Fatalf("bad match %+v in %q", m, s)
			}
			prev = m.End
			if strings.ContainsAny(s[m.Start:m.End], "\n\t") {
				t.Fatalf("match spans a line break: %q", s[m.Start:m.End])
			}
		}
	})
}

func BenchmarkFind(b *testing.B) {
	texts, _ := corpus(3, 20, 40)
	prose := strings.Repeat("The committee met on Tuesday to review the budget proposal for 2024. ", 200)
	for _, c := range []struct {
		name string
		text string
	}{{"planted", strings.Join(texts, "\n")}, {"prose", prose}} {
		b.Run(c.name, func(b *testing.B) {
			d := NewDetector()
			var ms []Match
			b.SetBytes(int64(len(c.text)))
			for i := 0; i < b.N; i++ {
				ms = d.Find(ms[:0], c.text)
			}
		})
	}
}

// TestRealData runs the detector over the shared web and webtext samples:
// every finding there was checked by hand (contact details on web pages;
// version numbers such as "Desktop 2.9.0.5" are not addresses).
func TestRealData(t *testing.T) {
	want := map[string]bool{
		"phone 020 7393 1500": true, "email ask@bufvc.ac.uk": true, "email info@claihr.ca": true,
		"phone +32 (0)2 790 75 75": true, "phone +32 (0)2 790 75 85": true, "email info@eun.org": true,
	}
	d := NewDetector()
	got := map[string]bool{}
	for _, doc := range benchdata.All(t) {
		for _, m := range d.Find(nil, doc) {
			got[m.Kind.String()+" "+doc[m.Start:m.End]] = true
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("unexpected finding %q", k)
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("missed %q", k)
		}
	}
}
