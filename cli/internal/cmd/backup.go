package cmd

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/insightgrid/insight/cli/backup"
)

// newBackupCmd is backup (op "backup", --to) or restore (op "restore", --from).
func newBackupCmd(r *root, op string) *cobra.Command {
	o := backup.Options{LocationFlag: "--to", Getenv: r.env.Getenv}
	run := backup.Backup
	c := &cobra.Command{Args: argsBad(cobra.ExactArgs(1)), Annotations: map[string]string{offline: ""}}
	if op == "backup" {
		c.Use = "backup RELEASE --to LOCATION"
		c.Short = "Write a snapshot of every partition and a manifest to a directory or an S3 bucket"
		c.Long = `Back up the grid of RELEASE: each partition's primary writes a snapshot of its keys (every
type, with its expiry), streamed through the manager to LOCATION, one file per partition,
then a manifest (manifest.json: release, time, grid version, and per partition its slots,
replication position, key count, size and SHA-256). The manifest is written last: a
location without one holds no complete backup. A location holding a backup is refused.

LOCATION is a directory (a path, or file:///path; on Kubernetes, a volume mounted where
insightctl runs) or s3://bucket/prefix of an S3-compatible store (--s3-endpoint, --s3-region,
--s3-path-style; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or
--s3-credentials-file, never printed).`
		c.Example = `  insightctl backup demo --to /backups/demo-2026-12-07
  insightctl backup demo --to s3://grid-backups/demo/2026-12-07 --s3-endpoint https://minio.example:9000 --s3-path-style
  insightctl backup local --to ./bk --manager-url http://127.0.0.1:7009 --operator-token-file /tmp/grid/operator-token`
		c.Flags().StringVar(&o.Location, "to", "", "where to write the backup: a directory, file:///path or s3://bucket/prefix (required)")
	} else {
		o.LocationFlag = "--from"
		run = backup.Restore
		c.Use = "restore RELEASE --from LOCATION"
		c.Short = "Restore a backup into a new or empty release (any partition count)"
		c.Long = `Restore the backup at LOCATION into the grid of RELEASE, which must hold no key. Every
file is checked against the manifest's size and SHA-256 before anything is written; a
damaged or incomplete backup is refused, naming the file. Each key is written to the
partition that owns its slot in RELEASE (which may have another partition count than the
backed-up grid) through that partition's primary, like any write: replicated to its
backup and journaled. Expiry times are kept as absolute times.`
		c.Example = `  insightctl restore demo2 --from /backups/demo-2026-12-07
  insightctl restore demo2 --from s3://grid-backups/demo/2026-12-07 --s3-endpoint https://minio.example:9000 --s3-path-style`
		c.Flags().StringVar(&o.Location, "from", "", "where the backup is: a directory, file:///path or s3://bucket/prefix (required)")
	}
	c.RunE = func(c *cobra.Command, args []string) error {
		o.Release = args[0]
		if err := o.Validate(); err != nil {
			return err
		}
		if o.NeedsCluster() {
			if err := r.connect(); err != nil {
				return err
			}
		}
		return run(c.Context(), r.deps(), o)
	}
	f := c.Flags()
	f.StringVar(&o.S3.Endpoint, "s3-endpoint", "", "URL of the S3-compatible store (default: AWS S3 of --s3-region)")
	f.StringVar(&o.S3.Region, "s3-region", "", "the bucket's region (default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1)")
	f.BoolVar(&o.S3.PathStyle, "s3-path-style", false, "address the bucket as endpoint/bucket (most S3-compatible servers need it)")
	f.StringVar(&o.S3.CredentialsFile, "s3-credentials-file", "", "an AWS shared credentials file holding the access key (profile $AWS_PROFILE, else default); default: the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY variables")
	f.StringVar(&o.TokenFile, "operator-token-file", "", "with --manager-url: read the operator token from this file (insight-grid local prints it) instead of the release's Secret")
	f.DurationVar(&o.Timeout, "timeout", time.Hour, "how long the whole "+op+" may take")
	addManagerFlags(c, nil, &o.ManagerURL)
	return c
}
