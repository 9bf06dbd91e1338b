"""The domain core: records, identifiers, rules and clocks of Secure Communities.

Nothing here imports SQLAlchemy, nistitl, the CLI or any other securecomm
package: adapters (``interchange``, ``store``, ``engine``) translate to and from
these types, and the service layer (``securecomm.services``) applies them inside
a unit of work.
"""
