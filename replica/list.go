package replica

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	lss3 "github.com/benbjohnson/litestream/s3"
)

// Litestream's client lists the LTX files of one replica only; finding
// the claims' folders under a tenant's path (without etcd, which knows the
// current one) takes a listing by delimiter, made here with the same S3
// settings the client parsed from the URL.

// claimTokens lists the tokens of the claim folders under tenant id's
// path, highest first.
func (r *Replicator) claimTokens(ctx context.Context, id string) ([]int64, error) {
	c, err := r.clients.get(ctx, r.target.tenantKey(id))
	if err != nil {
		return nil, err
	}
	defer r.clients.put(c)
	api, err := listerFor(ctx, c)
	if err != nil {
		return nil, err
	}
	prefix := r.target.tenantKey(id) + "/"
	p := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{
		Bucket: aws.String(c.Bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/"),
	})
	var tokens []int64
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if r.stats.count(err) != nil {
			return nil, fmt.Errorf("list the claims of tenant %s: %w", id, err)
		}
		for _, cp := range page.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), prefix), "/")
			if t, err := strconv.ParseInt(name, 10, 64); err == nil && t > 0 {
				tokens = append(tokens, t)
			}
		}
	}
	slices.Sort(tokens)
	slices.Reverse(tokens)
	return tokens, nil
}

// listerFor builds an S3 client with c's settings.
func listerFor(ctx context.Context, c *lss3.ReplicaClient) (*s3.Client, error) {
	region := c.Region
	if region == "" {
		region = lss3.DefaultRegion
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if c.SkipVerify {
		opts = append(opts, config.WithHTTPClient(&http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the operator asked for it in the URL
		}}))
	}
	if c.AccessKeyID != "" && c.SecretAccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("S3 settings: %w", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = c.ForcePathStyle
		if c.Endpoint != "" {
			ep := c.Endpoint
			if !strings.Contains(ep, "://") {
				ep = "https://" + ep
			}
			o.BaseEndpoint = aws.String(ep)
		}
	}), nil
}

// newestKey is where a restore without etcd (cubby restore --from s3://)
// finds tenant id: the highest claim folder that holds a replica, else the
// path without a token. Each claim's first upload is a full snapshot of
// what the claim before it held, so the newest claim with a replica holds
// the newest state any owner got into the bucket.
func (r *Replicator) newestKey(ctx context.Context, id string) (string, error) {
	tokens, err := r.claimTokens(ctx, id)
	if err != nil {
		return "", err
	}
	for _, t := range tokens {
		key := r.target.tokenKey(id, t)
		ok, err := r.hasReplica(ctx, key)
		if err != nil {
			return "", err
		}
		if ok {
			return key, nil
		}
	}
	return r.target.tenantKey(id), nil
}

// ClaimTokens lists the tokens of the claim folders under tenant id's path
// in the bucket, highest first (for cubby check --cluster: any but the
// current one is a superseded replica left behind).
func (r *Replicator) ClaimTokens(ctx context.Context, id string) ([]int64, error) {
	return r.claimTokens(ctx, id)
}
