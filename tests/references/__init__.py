"""Independent float64 NumPy translations of the framework references that symloss's losses must match exactly.

One module per source, each function's docstring naming the file and version it translates:

- ``monai``: MONAI 1.6.1 (BoundaryLoss, SoftclDiceLoss, SoftDiceclDiceLoss, HausdorffDTLoss, LogHausdorffDTLoss,
  AsymmetricFocalLoss, AsymmetricFocalTverskyLoss, AsymmetricUnifiedFocalLoss, DiceLoss, FocalLoss, DiceCELoss,
  DiceFocalLoss, MCCLoss)
- ``nnunet``: nnU-Net v2 2.8.1 (TopKLoss, MemoryEfficientSoftDiceLoss, DC_and_CE_loss)
- ``kornia``: kornia 0.9.0 (HausdorffERLoss, HausdorffERLoss3D)
- ``paddleseg``: PaddleSeg 2.8.0 (OhemCrossEntropyLoss)
- ``frameworks``: torch 2.13 / Paddle 3.3.1 ``cross_entropy`` (incl. label smoothing)
- ``papers``: Poly-1 and label-smoothed CE written from the papers
- ``berman_lovasz``: Lovász-softmax per image with classes="present" (Berman et al., 2018, and the authors' code),
  value and gradient with respect to the probabilities
- ``gradcheck``: central finite differences, and which references are piecewise

Shared convention: ``logits`` float64 (N, C, *spatial) with 1-3 spatial dims, ``label`` int (N, *spatial).
No torch or paddle import anywhere here: NumPy and SciPy only.
"""
