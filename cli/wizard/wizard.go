// Package wizard asks, on a terminal, what to install: profile, partitions, high
// availability, anti-affinity, memory and add-ons. Each answer is validated as it is
// given; the resulting values are shown, can be saved, and are confirmed before anything
// is installed.
//
// It must not decide when to prompt (the command does: only on a terminal and never
// with CI=true) and must not depend on a cluster.
package wizard

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/AlecAivazis/survey/v2"
	"github.com/AlecAivazis/survey/v2/terminal"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/insightgrid/insight/cli/install"
)

// ErrAborted is returned when the user declines to go on.
var ErrAborted = errors.New("aborted by the user; nothing was changed")

// Inputs is what the wizard offers and how it shows and saves the result.
type Inputs struct {
	Profiles []string
	AddOns   []string
	// Preview composes and validates the parameters and returns the values as YAML.
	Preview func(*install.Parameters) (string, error)
	// SaveValues is the --save-values path; "" asks whether and where to save.
	SaveValues string
	// Save writes the values file.
	Save func(path, yaml string) error
	// Action names what happens on confirmation, e.g. "install insight (dry run)".
	Action string
}

const noProfile = "none (chart defaults)"

// Run asks the questions and fills p. It returns ErrAborted when the user says no, and
// terminal.InterruptErr on Ctrl-C.
func Run(stdio terminal.Stdio, p *install.Parameters, in Inputs) error {
	opt := survey.WithStdio(stdio.In, stdio.Out, stdio.Err)

	profile := noProfile
	if p.Profile != "" {
		profile = p.Profile
	}
	if err := survey.AskOne(&survey.Select{
		Message: "Profile:",
		Options: append([]string{noProfile}, in.Profiles...),
		Default: profile,
		Help:    "curated values: dev (small), ha (backups), production (backups, zones, more memory)",
	}, &profile, opt); err != nil {
		return err
	}
	p.Profile = ""
	if profile != noProfile {
		p.Profile = profile
	}

	partitions := "1"
	if p.Partitions != nil {
		partitions = strconv.Itoa(*p.Partitions)
	}
	if err := survey.AskOne(&survey.Input{Message: "Partitions:", Default: partitions,
		Help: "each partition holds a share of the 16384 hash slots; more partitions spread data and load"},
		&partitions, opt, survey.WithValidator(validPartitions)); err != nil {
		return err
	}
	n, _ := strconv.Atoi(partitions)
	p.Partitions = &n

	ha := p.HA == nil || *p.HA
	if err := survey.AskOne(&survey.Confirm{Message: "High availability (one backup per partition)?", Default: ha}, &ha, opt); err != nil {
		return err
	}
	p.HA = &ha

	if ha {
		aa := "zone"
		if p.AntiAffinity != "" {
			aa = p.AntiAffinity
		}
		if err := survey.AskOne(&survey.Select{Message: "Keep each primary and its backup apart by:", Options: install.AntiAffinityNames, Default: aa,
			Help: "zone: survive a zone outage (needs nodes in 2+ zones); hostname: survive a node failure"}, &aa, opt); err != nil {
			return err
		}
		p.AntiAffinity = aa
	}

	mem := p.Memory
	if err := survey.AskOne(&survey.Input{Message: "Memory per grid pod (empty: chart default):", Default: mem,
		Help: "a Kubernetes quantity such as 512Mi or 2Gi; used as request and limit"}, &mem, opt, survey.WithValidator(validMemory)); err != nil {
		return err
	}
	p.Memory = mem

	if len(in.AddOns) > 0 {
		var addOns []string
		if err := survey.AskOne(&survey.MultiSelect{Message: "Add-ons:", Options: in.AddOns, Default: p.Enable}, &addOns, opt); err != nil {
			return err
		}
		p.Enable = addOns
	}

	preview, err := in.Preview(p)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "\nThe values to install:\n---\n%s---\n", preview)

	path := in.SaveValues
	if path == "" {
		save := false
		if err := survey.AskOne(&survey.Confirm{Message: "Save these values to a file?", Default: false}, &save, opt); err != nil {
			return err
		}
		if save {
			path = "insight-values.yaml"
			if err := survey.AskOne(&survey.Input{Message: "File:", Default: path}, &path, opt, survey.WithValidator(survey.Required)); err != nil {
				return err
			}
		}
	}
	if path != "" {
		if err := in.Save(path, preview); err != nil {
			return err
		}
		fmt.Fprintf(stdio.Out, "Saved to %s; next time: insightctl install -f %s\n", path, path)
	}

	ok := true
	if err := survey.AskOne(&survey.Confirm{Message: "Go ahead: " + in.Action + "?", Default: true}, &ok, opt); err != nil {
		return err
	}
	if !ok {
		return ErrAborted
	}
	return nil
}

func validPartitions(ans any) error {
	s := fmt.Sprint(ans)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 16384 {
		return fmt.Errorf("partitions: %q is not a whole number from 1 to 16384", s)
	}
	return nil
}

func validMemory(ans any) error {
	s := fmt.Sprint(ans)
	if s == "" {
		return nil
	}
	q, err := resource.ParseQuantity(s)
	if err != nil || q.Sign() <= 0 {
		return fmt.Errorf("memory: %q is not a memory quantity; use e.g. 512Mi or 2Gi", s)
	}
	return nil
}
