"""The facts both halves of eventwire share, defined once.

The component library (``eventwire``: CRDs, validation, conversion) and the runtime image
(``eventwire_runtime``: controller, dispatcher, adapters) are separate distributions so that
neither pulls in the other's stack. What both must agree on lives here, in pure Python with no
dependencies: a fact stated in the CRDs and enforced by the runtime is read from one module.
"""
