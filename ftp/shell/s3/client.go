package s3

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// ClientConfig says how to reach an S3 store.
type ClientConfig struct {
	// Endpoint is the store's base URL (http://127.0.0.1:8333); "" is
	// AWS's own for Region.
	Endpoint string
	// Region signs the requests; default "us-east-1".
	Region string
	// AccessKey, SecretKey and SessionToken are the credentials
	// (ftpd takes them from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
	// AWS_SESSION_TOKEN).
	AccessKey, SecretKey, SessionToken string
	// PathStyle addresses buckets as ENDPOINT/BUCKET rather than
	// BUCKET.ENDPOINT, as self-hosted stores need.
	PathStyle bool
}

// NewClient makes an S3 client for cfg. Checksums are computed and
// checked only where the API requires them (non-AWS stores differ in
// what they accept); connections are kept for reuse, 64 per host.
func NewClient(cfg ClientConfig) (*awss3.Client, error) {
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("s3: no credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: DefaultRequestTimeout,
		ExpectContinueTimeout: time.Second,
	}
	ac := aws.Config{
		Region:                     cfg.Region,
		Credentials:                credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken),
		HTTPClient:                 &http.Client{Transport: tr},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if cfg.Endpoint != "" {
		ac.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	return awss3.NewFromConfig(ac, func(o *awss3.Options) { o.UsePathStyle = cfg.PathStyle }), nil
}

// StorageURL is ftpd's --storage s3://BUCKET/PREFIX?endpoint=…&region=…
// taken apart.
type StorageURL struct {
	Bucket, Prefix string
	// Endpoint and Region as ClientConfig's; PathStyle defaults to true
	// when an endpoint is given (path-style=false turns it off).
	Endpoint, Region string
	PathStyle        bool
	// StaleUploadAge is stale-upload-age= (a Go duration): multipart
	// uploads older than it are aborted at start; 0: the default.
	StaleUploadAge time.Duration
}

// ClientConfig is how to reach u's store, with the credentials every S3
// tool reads from the environment (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), looked up with getenv
// (os.Getenv, or a test's own).
func (u StorageURL) ClientConfig(getenv func(string) string) ClientConfig {
	return ClientConfig{Endpoint: u.Endpoint, Region: u.Region, PathStyle: u.PathStyle,
		AccessKey: getenv("AWS_ACCESS_KEY_ID"), SecretKey: getenv("AWS_SECRET_ACCESS_KEY"), SessionToken: getenv("AWS_SESSION_TOKEN")}
}

// ParseStorageURL parses s3://BUCKET[/PREFIX][?endpoint=URL&region=R&path-style=BOOL&stale-upload-age=D].
func ParseStorageURL(s string) (StorageURL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return StorageURL{}, fmt.Errorf("storage %q: %w", s, err)
	}
	if u.Scheme != "s3" || u.Host == "" {
		return StorageURL{}, fmt.Errorf("storage %q: want s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=REGION", s)
	}
	out := StorageURL{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "path-style", "stale-upload-age":
		default:
			return StorageURL{}, fmt.Errorf("storage %q: unknown parameter %q (endpoint, region, path-style, stale-upload-age)", s, k)
		}
	}
	out.Endpoint, out.Region = q.Get("endpoint"), q.Get("region")
	if out.Endpoint != "" {
		eu, err := url.Parse(out.Endpoint)
		if err != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" {
			return StorageURL{}, fmt.Errorf("storage %q: endpoint %q: want http://HOST:PORT or https://HOST", s, out.Endpoint)
		}
	}
	out.PathStyle = out.Endpoint != ""
	if v := q.Get("path-style"); v != "" {
		if out.PathStyle, err = strconv.ParseBool(v); err != nil {
			return StorageURL{}, fmt.Errorf("storage %q: path-style=%q: %w", s, v, err)
		}
	}
	if v := q.Get("stale-upload-age"); v != "" {
		if out.StaleUploadAge, err = time.ParseDuration(v); err != nil {
			return StorageURL{}, fmt.Errorf("storage %q: stale-upload-age=%q: %w", s, v, err)
		}
	}
	return out, nil
}

// CloseIdleConnections closes the idle keep-alive connections of a
// client made by NewClient (at shutdown, and in tests before goleak
// looks for goroutines left behind). Any goroutine.
func CloseIdleConnections(c *awss3.Client) {
	if hc, ok := c.Options().HTTPClient.(*http.Client); ok {
		hc.CloseIdleConnections()
	}
}
