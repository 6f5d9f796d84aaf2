package submit

import (
	"testing"
	"time"
)

// TestJobName checks the default job names: the main class's or file's short name,
// lowercased to a DNS label, with the time, within MaxNameLength.
func TestJobName(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		o    Options
		want string
	}{
		{Options{Class: "io.insightgrid.examples.SparkPi"}, "sparkpi-20250102-030405"},
		{Options{Class: "com.example.Save_Products$Main"}, "save-products-main-20250102-030405"},
		{Options{Py: "./jobs/2nd_word_count.py"}, "nd-word-count-20250102-030405"},
		{Options{Class: "a.VeryLongMainClassNameThatGoesOnAndOn"}, "verylongmainclassnametha-20250102-030405"},
		{Options{Class: "a._"}, "job-20250102-030405"},
		{Options{Class: "a.B", Name: "mine"}, "mine"},
	} {
		got := tt.o.JobName(now)
		if got != tt.want {
			t.Errorf("JobName(%+v) = %q, want %q", tt.o, got, tt.want)
		}
		if len(got) > MaxNameLength || !nameRE.MatchString(got) {
			t.Errorf("JobName(%+v) = %q is not a valid job name", tt.o, got)
		}
	}
}
