-- The (commune, bundle) pairs already loaded: a bundle is loaded once.
select distinct commune_code, bundle_id from province.bundles where status = 'loaded'
