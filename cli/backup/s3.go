package backup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3Options say how to reach an S3-compatible object store. The credentials come from
// the standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
// or from CredentialsFile, and are never printed.
type S3Options struct {
	// Endpoint is the store's URL (https://minio.example:9000); "": AWS S3 of Region.
	Endpoint string
	// Region is the bucket's region; "": AWS_REGION, AWS_DEFAULT_REGION, else us-east-1.
	Region string
	// PathStyle addresses buckets as endpoint/bucket rather than bucket.endpoint (most
	// S3-compatible servers need it).
	PathStyle bool
	// CredentialsFile is an AWS shared credentials file (the profile AWS_PROFILE, else
	// default); "": the AWS_* variables.
	CredentialsFile string
}

// Validate checks the options; Getenv reads the environment.
func (o S3Options) Validate() error {
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--s3-endpoint %q: want the store's URL, http(s)://host[:port]", o.Endpoint)
		}
	}
	return nil
}

// credentials reads the access key: from CredentialsFile when given, else the
// environment.
func (o S3Options) credentials(getenv func(string) string) (aws.Credentials, error) {
	if o.CredentialsFile != "" {
		profile := getenv("AWS_PROFILE")
		if profile == "" {
			profile = "default"
		}
		return readCredentialsFile(o.CredentialsFile, profile)
	}
	c := aws.Credentials{AccessKeyID: getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"), SessionToken: getenv("AWS_SESSION_TOKEN")}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return c, errors.New("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or give --s3-credentials-file")
	}
	return c, nil
}

// readCredentialsFile reads profile's keys from an AWS shared credentials file
// (aws_access_key_id, aws_secret_access_key, aws_session_token under [profile]).
func readCredentialsFile(path, profile string) (aws.Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("--s3-credentials-file: %w", err)
	}
	defer f.Close()
	var c aws.Credentials
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "["):
			in = strings.TrimSpace(strings.Trim(line, "[]")) == profile
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !in || !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			c.AccessKeyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			c.SecretAccessKey = strings.TrimSpace(v)
		case "aws_session_token":
			c.SessionToken = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("--s3-credentials-file %s: %w", path, err)
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return c, fmt.Errorf("--s3-credentials-file %s: profile [%s] has no aws_access_key_id and aws_secret_access_key", path, profile)
	}
	return c, nil
}

// s3Store is a bucket and prefix. A file is spooled to a local temporary file (its
// length must be known and the body re-readable for the request's signature) and
// uploaded by Commit, so an object appears whole or not at all.
type s3Store struct {
	client         *s3.Client
	bucket, prefix string
}

// NewS3Store is loc (an s3 Location) reached as o says.
func NewS3Store(loc Location, o S3Options, getenv func(string) string) (Store, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	creds, err := o.credentials(getenv)
	if err != nil {
		return nil, err
	}
	region := o.Region
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if region == "" {
			region = getenv(k)
		}
	}
	if region == "" {
		region = "us-east-1"
	}
	opts := s3.Options{
		Region:       region,
		UsePathStyle: o.PathStyle,
		Credentials:  credentials.StaticCredentialsProvider{Value: creds},
		// S3-compatible servers do not all know the newer flexible checksums; the
		// backup's own SHA-256 in the manifest covers every file.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if o.Endpoint != "" {
		opts.BaseEndpoint = aws.String(o.Endpoint)
	}
	return &s3Store{client: s3.New(opts), bucket: loc.Bucket, prefix: loc.Prefix}, nil
}

func (s *s3Store) String() string {
	return Location{Scheme: SchemeS3, Bucket: s.bucket, Prefix: s.prefix}.String()
}

func (s *s3Store) key(name string) string {
	if s.prefix == "" {
		return name
	}
	return s.prefix + "/" + name
}

func (s *s3Store) Create(_ context.Context, name string) (Object, error) {
	f, err := os.CreateTemp("", "insight-backup-*")
	if err != nil {
		return nil, fmt.Errorf("spooling %s: %w", name, err)
	}
	return &s3Object{s: s, name: name, f: f}, nil
}

func (s *s3Store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(name))})
	if err != nil {
		var nk *types.NoSuchKey
		if errors.As(err, &nk) {
			return nil, fmt.Errorf("%s/%s: %w", s, name, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("reading %s/%s: %w", s, name, err)
	}
	return out.Body, nil
}

type s3Object struct {
	s    *s3Store
	name string
	f    *os.File
}

func (o *s3Object) Write(p []byte) (int, error) { return o.f.Write(p) }

func (o *s3Object) Commit(ctx context.Context) error {
	defer o.Abort()
	size, err := o.f.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = o.f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("spooled %s: %w", o.name, err)
	}
	_, err = o.s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(o.s.bucket), Key: aws.String(o.s.key(o.name)),
		Body: o.f, ContentLength: aws.Int64(size), ContentType: aws.String("application/octet-stream"),
	})
	if err != nil {
		return fmt.Errorf("uploading %s/%s: %w", o.s, o.name, err)
	}
	return nil
}

func (o *s3Object) Abort() {
	_ = o.f.Close()
	_ = os.Remove(o.f.Name())
}
