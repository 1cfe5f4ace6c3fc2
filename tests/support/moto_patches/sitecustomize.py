# Test-only patches to moto 5.2.1's CloudFront, loaded before moto_server starts with
# PYTHONPATH=tests/support/moto_patches. Each makes moto keep or return what real CloudFront does and what
# lib/aws/cloudfront_port.ts relies on; nothing else is changed. A moto without the CloudFront module, or of another
# shape, is left as it is.
try:
    from moto.cloudfront import models as _cf
except Exception:  # noqa: BLE001 - a Python without moto, or another moto: no patches
    _cf = None

if _cf is not None and hasattr(_cf, "Origin") and hasattr(_cf, "Distribution"):
    _origin_init = _cf.Origin.__init__

    def _origin_init_keeping_oac(self, origin):
        # moto drops an origin's OriginAccessControlId and S3OriginConfig (it keeps the OAI in an attribute the
        # serializer never reads), so every read shows an origin with no OAC and a custom-origin shape, and each
        # plan would update the distribution again.
        _origin_init(self, origin)
        self.origin_access_control_id = origin.get("OriginAccessControlId") or ""
        if "S3OriginConfig" in origin:
            self.s3_origin_config = {
                "OriginAccessIdentity": (origin["S3OriginConfig"] or {}).get("OriginAccessIdentity") or ""
            }

    _cf.Origin.__init__ = _origin_init_keeping_oac

    # ListDistributions answers summaries without Comment, Enabled or Origins (they live in the distribution's
    # config, where the summary serializer does not look), so the port could never recognise its distribution.
    _cf.Distribution.comment = property(lambda self: self.distribution_config.Comment)
    _cf.Distribution.enabled = property(lambda self: self.distribution_config.Enabled)
    _cf.Distribution.origins = property(lambda self: self.distribution_config.Origins)

    _delete_oac = _cf.CloudFrontBackend.delete_origin_access_control

    def _delete_oac_missing_is_404(self, control_id):
        # moto answers DeleteOriginAccessControl of an unknown id with a 500 (a KeyError); CloudFront answers 404
        # NoSuchOriginAccessControl, which the port's idempotent delete treats as done.
        if control_id not in self.origin_access_controls:
            raise _cf.NoSuchOriginAccessControl
        return _delete_oac(self, control_id)

    _cf.CloudFrontBackend.delete_origin_access_control = _delete_oac_missing_is_404
